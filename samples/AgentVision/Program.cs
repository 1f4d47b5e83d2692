// AgentVision: a Microsoft Agent Framework agent (Microsoft.Agents.AI) whose tools are InternVL's vision tools.
//
//   dotnet run --project samples/AgentVision -- <model folder> <image file> ["question"]
//
// The agent's model is a planner: an OpenAI-compatible endpoint with function calling (PLANNER_ENDPOINT,
// PLANNER_MODEL, PLANNER_API_KEY, as in samples/SemanticKernelVision), or, without one, a scripted stand-in that asks
// for describe_image and extract_text and then answers from their results (no network needed). Either way the Agent
// Framework's ChatClientAgent runs the tools the planner asks for on the local InternVL model.
using System.ClientModel;
using InternVit.SK.Generation;
using InternVit.SK.Plugin;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using OpenAI;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: AgentVision <model folder> <image file> [question]");
    return 2;
}
string imagePath = Path.GetFullPath(args[1]);
string image = Path.GetFileName(imagePath);
string question = args.Length > 2 ? args[2] : $"What does {image} show, and what text is in it?";

using var model = await InternVLModel.LoadAsync(args[0]);
using var vision = new VisionTools(model, new VisionToolsOptions
{
    ImageSources = new ImageSourceOptions { AllowedRoots = [Path.GetDirectoryName(imagePath)!] }, // the only folder the tools read
    MaxOutputTokens = 64,
});

IChatClient planner = Planner() ?? new ScriptedPlanner(image);
AIAgent agent = new ChatClientAgent(planner,
    instructions: $"You answer questions about images with the vision tools. Image files are named by their file name, e.g. {image}.",
    name: "vision-agent",
    tools: [.. vision.AsAIFunctions()]);

Console.WriteLine($"> {question}");
var response = await agent.RunAsync(question);
foreach (var content in response.Messages.SelectMany(m => m.Contents))
{
    if (content is FunctionCallContent call) Console.WriteLine($"  {call.Name}({string.Join(", ", (call.Arguments ?? new Dictionary<string, object?>()).Select(a => $"{a.Key}: {a.Value}"))})");
    else if (content is FunctionResultContent result) Console.WriteLine($"  -> {result.Result}");
}
Console.WriteLine(response.Text);
return 0;

static IChatClient? Planner()
{
    string? endpoint = Environment.GetEnvironmentVariable("PLANNER_ENDPOINT");
    if (string.IsNullOrWhiteSpace(endpoint)) return null;
    string model = Environment.GetEnvironmentVariable("PLANNER_MODEL") ?? throw new InvalidOperationException("PLANNER_MODEL is not set");
    string key = Environment.GetEnvironmentVariable("PLANNER_API_KEY") ?? "none";
    return new OpenAI.Chat.ChatClient(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(endpoint) }).AsIChatClient();
}

/// <summary>
/// Stands in for a planner model: first it asks for describe_image and extract_text on the image (one response, two
/// calls), then it answers from the tool results it is sent.
/// </summary>
internal sealed class ScriptedPlanner(string image) : IChatClient
{
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var results = messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().ToList();
        if (results.Count == 0)
        {
            foreach (string name in new[] { "describe_image", "extract_text" })
                if (options?.Tools?.Any(t => t.Name == name) != true) throw new InvalidOperationException($"the planner was not offered '{name}'");
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant,
            [
                new FunctionCallContent("call-1", "describe_image", new Dictionary<string, object?> { ["image"] = image, ["detail"] = "brief" }),
                new FunctionCallContent("call-2", "extract_text", new Dictionary<string, object?> { ["image"] = image }),
            ])));
        }
        string answer = "From the vision tools:\n" + string.Join("\n", results.Select(r => $"- {r.CallId}: {r.Result}"));
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, answer)));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var update in (await GetResponseAsync(messages, options, cancellationToken)).ToChatResponseUpdates()) yield return update;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}
