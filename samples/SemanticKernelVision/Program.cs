// SemanticKernelVision: a Semantic Kernel whose vision plugin runs a local InternVL model.
//
//   dotnet run --project samples/SemanticKernelVision -- <model folder> <image file> ["question"]
//
// The model folder is a converted model or an original InternVL checkpoint (converted once into the cache), e.g.
// tests/fixtures/internvl-tiny-a (random weights: the answers are noise, the calls are real).
//
// With a planner configured — an OpenAI-compatible chat endpoint that does function calling — the planner answers the
// question with Semantic Kernel's automatic function calling over the plugin:
//   PLANNER_ENDPOINT  e.g. https://api.openai.com/v1, or a local server's /v1
//   PLANNER_MODEL     e.g. gpt-4o-mini
//   PLANNER_API_KEY   the key (any text for servers without keys)
// Without one (no network needed), the sample calls each plugin function itself and prints the JSON it returns.
using System.ClientModel;
using InternVit.SK.SemanticKernel;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using OpenAI;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: SemanticKernelVision <model folder> <image file> [question]");
    return 2;
}
string imagePath = Path.GetFullPath(args[1]);
string image = Path.GetFileName(imagePath);
string question = args.Length > 2 ? args[2] : $"What does {image} show, and what text is in it?";

var builder = Kernel.CreateBuilder();
// The local model under its own service id, so the planner stays the kernel's default chat service.
builder.AddInternVLChatCompletion(args[0], serviceId: "internvl", (InternVLKernelOptions o) =>
{
    o.AllowedImageRoots.Add(Path.GetDirectoryName(imagePath)!); // the tools read files only under this folder
    o.MaxOutputTokens = 64;
});
builder.Plugins.AddInternVLVision(serviceId: "internvl");

IChatClient? planner = Planner();
if (planner is not null)
{
    // SK's function invocation around the planner, as SK's own connectors register it: it runs the functions the planner asks for.
    planner = planner.AsBuilder().UseKernelFunctionInvocation().Build();
    builder.Services.AddSingleton(planner);
    builder.Services.AddSingleton(planner.AsChatCompletionService());
}
Kernel kernel = builder.Build();

foreach (var function in kernel.Plugins["vision"])
    Console.WriteLine($"{function.PluginName}_{function.Name}: {function.Description}");
Console.WriteLine();

if (planner is not null)
{
    var history = new ChatHistory($"You answer questions about images with the vision tools. Image files are named by their file name, e.g. {image}.");
    history.AddUserMessage(question);
    var reply = await kernel.GetRequiredService<IChatCompletionService>().GetChatMessageContentAsync(history,
        new PromptExecutionSettings { FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() }, kernel);
    foreach (var message in history.Skip(2)) // the function calls and their results that SK added
        foreach (var item in message.Items)
            Console.WriteLine(item switch
            {
                Microsoft.SemanticKernel.FunctionCallContent call => $"> {(call.PluginName is { } plugin ? plugin + "_" : "")}{call.FunctionName}({string.Join(", ", (call.Arguments ?? []).Select(a => $"{a.Key}: {a.Value}"))})",
                Microsoft.SemanticKernel.FunctionResultContent result => $"< {result.Result}",
                _ => item.ToString(),
            });
    Console.WriteLine(reply.Content);
    return 0;
}

// No planner: call each function as a planner would, with string arguments, and print the JSON records.
Console.WriteLine("(no PLANNER_ENDPOINT set: calling the plugin's functions directly)");
(string Function, KernelArguments Arguments)[] calls =
[
    ("describe_image", new() { ["image"] = image, ["detail"] = "brief" }),
    ("ask_image", new() { ["image"] = image, ["question"] = question }),
    ("extract_text", new() { ["image"] = image }),
    ("locate", new() { ["image"] = image, ["phrase"] = "the title" }),
];
foreach (var (function, arguments) in calls)
{
    Console.WriteLine($"> vision_{function}({string.Join(", ", arguments.Select(a => $"{a.Key}: {a.Value}"))})");
    var result = await kernel.InvokeAsync("vision", function, arguments);
    Console.WriteLine($"< {result}");
}
return 0;

static IChatClient? Planner()
{
    string? endpoint = Environment.GetEnvironmentVariable("PLANNER_ENDPOINT");
    if (string.IsNullOrWhiteSpace(endpoint)) return null;
    string model = Environment.GetEnvironmentVariable("PLANNER_MODEL") ?? throw new InvalidOperationException("PLANNER_MODEL is not set");
    string key = Environment.GetEnvironmentVariable("PLANNER_API_KEY") ?? "none";
    return new OpenAI.Chat.ChatClient(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(endpoint) }).AsIChatClient();
}
