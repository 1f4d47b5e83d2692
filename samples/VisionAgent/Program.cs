// VisionAgent: the loop an LLM planner runs over InternVL's vision tools, with Microsoft.Extensions.AI types only.
//
//   dotnet run --project samples/VisionAgent -- <model folder> <image file> ["question"]
//
// The model folder is a converted model or an original InternVL checkpoint (converted once into the cache). The
// planner here is a scripted stand-in for a real planner model (any IChatClient: OpenAI, Ollama, ...): it answers with
// tool calls whose arguments are JSON text, exactly what a model's function-calling output becomes, and the loop
// looks each tool up by name among the AIFunctions and invokes it. With Semantic Kernel the same functions become a
// kernel plugin (InternVit.SK.SemanticKernel's AddInternVLVision: samples/SemanticKernelVision), and with the Agent
// Framework an agent's tools (samples/AgentVision).
using System.Text.Json;
using InternVit.SK.Generation;
using InternVit.SK.Plugin;
using Microsoft.Extensions.AI;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: VisionAgent <model folder> <image file> [question]");
    return 2;
}
string imagePath = Path.GetFullPath(args[1]);
string question = args.Length > 2 ? args[2] : "What does this image show, what text is in it, and where is the title?";

using var model = await InternVLModel.LoadAsync(args[0]);
using var vision = new VisionTools(model, new VisionToolsOptions
{
    // The tools read files only under this folder: a planner cannot make them read anything else.
    ImageSources = new ImageSourceOptions { AllowedRoots = [Path.GetDirectoryName(imagePath)!] },
    MaxOutputTokens = 64,
});
IReadOnlyList<AIFunction> tools = vision.AsAIFunctions();

// From here on: Microsoft.Extensions.AI only.
IChatClient planner = new ScriptedPlanner(Path.GetFileName(imagePath));
List<ChatMessage> history = [new(ChatRole.User, question)];
var options = new ChatOptions { Tools = [.. tools] };

foreach (var tool in tools) Console.WriteLine($"tool {tool.Name}: {tool.Description}");
for (int step = 0; step < 8; step++)
{
    var response = await planner.GetResponseAsync(history, options);
    history.AddMessages(response);
    var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
    if (calls.Count == 0)
    {
        Console.WriteLine();
        Console.WriteLine(response.Text);
        break;
    }
    foreach (var call in calls)
    {
        Console.WriteLine($"\n> {call.Name}({JsonSerializer.Serialize(call.Arguments)})");
        object? result;
        try
        {
            var function = tools.FirstOrDefault(t => t.Name == call.Name) ?? throw new InvalidOperationException($"no tool named '{call.Name}'");
            result = await function.InvokeAsync(new AIFunctionArguments(call.Arguments));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            result = $"error: {e.Message}"; // reported back to the planner, as FunctionInvokingChatClient does
        }
        Console.WriteLine($"< {result}");
        history.Add(new ChatMessage(ChatRole.Tool, [new FunctionResultContent(call.CallId, result)]));
    }
}
return 0;

/// <summary>
/// Stands in for a planner model: it calls describe_image, extract_text and locate in turn (arguments as JSON text,
/// parsed the way a function-calling response is), then answers from the tool results.
/// </summary>
internal sealed class ScriptedPlanner(string image) : IChatClient
{
    private readonly string[] _plan =
    [
        $$$"""{"name": "describe_image", "arguments": {"image": {{{JsonSerializer.Serialize(image)}}}, "detail": "brief"}}""",
        $$$"""{"name": "extract_text", "arguments": {"image": {{{JsonSerializer.Serialize(image)}}}}}""",
        $$$"""{"name": "locate", "arguments": {"image": {{{JsonSerializer.Serialize(image)}}}, "phrase": "the title"}}""",
    ];

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var results = messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().ToList();
        if (results.Count < _plan.Length)
        {
            using var step = JsonDocument.Parse(_plan[results.Count]);
            string name = step.RootElement.GetProperty("name").GetString()!;
            if (options?.Tools?.Any(t => t.Name == name) != true) throw new InvalidOperationException($"the planner was not offered '{name}'");
            var arguments = JsonSerializer.Deserialize<Dictionary<string, object?>>(step.RootElement.GetProperty("arguments").GetRawText());
            var call = new FunctionCallContent($"call-{results.Count + 1}", name, arguments);
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, [call])));
        }
        string summary = "Answer from the tools:\n" + string.Join("\n", results.Select(r => $"- {r.CallId}: {r.Result}"));
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, summary)));
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
