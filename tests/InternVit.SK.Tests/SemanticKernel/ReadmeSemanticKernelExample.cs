using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace InternVit.SK.Tests.SemanticKernel; // not in README
// The README's Semantic Kernel example: this file without the lines marked "not in README" (ReadmeTests checks that). // not in README
internal static class ReadmeSemanticKernelExample // not in README
{ // not in README
public static async Task<(string Answer, string Text)> RunAsync(string modelPath, string imageFolder) // not in README
{ // not in README
// The local model as the kernel's chat service (under a service id, so it can sit beside a cloud planner) and its vision plugin.
var builder = Kernel.CreateBuilder();
builder.AddInternVLChatCompletion(modelPath, serviceId: "internvl", o => o.AllowedImageRoots.Add(imageFolder));
builder.Plugins.AddInternVLVision(serviceId: "internvl");
Kernel kernel = builder.Build();

// A chat history with an image.
var chat = kernel.GetRequiredService<IChatCompletionService>("internvl");
var history = new ChatHistory("Answer briefly.");
history.AddUserMessage([new ImageContent(File.ReadAllBytes(Path.Combine(imageFolder, "receipt_576x1400.png")), "image/png"),
                        new TextContent("What is the total?")]);
var answer = await chat.GetChatMessageContentAsync(history, new PromptExecutionSettings
{
    ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 64, ["max_tiles"] = 6 },
});
Console.WriteLine(answer.Content);

// The plugin's functions (vision_extract_text and so on for a planner with FunctionChoiceBehavior.Auto()), called directly.
var text = await kernel.InvokeAsync("vision", "extract_text", new KernelArguments { ["image"] = "receipt_576x1400.png" });
Console.WriteLine(text); // {"text":"...","lines":[...],"usage":{...}}
(kernel.Services as IDisposable)?.Dispose(); // the test's process goes on: disposing the services disposes the model // not in README
return (answer.Content!, text.ToString()); // not in README
} // not in README
} // not in README
