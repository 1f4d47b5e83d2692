using System.Text.Json;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Tests.SemanticKernel;

/// <summary>
/// A planner model stand-in: each call answers with the next scripted step (a function call, then text), and every
/// call's messages and options are kept for the test to read, exactly as a function-calling model would receive them.
/// </summary>
internal sealed class ScriptedPlanner(params Func<IReadOnlyList<ChatMessage>, ChatOptions?, ChatMessage>[] steps) : IChatClient
{
    public List<(IReadOnlyList<ChatMessage> Messages, ChatOptions? Options)> Calls { get; } = [];

    /// <summary>A step that asks for one function call.</summary>
    public static Func<IReadOnlyList<ChatMessage>, ChatOptions?, ChatMessage> Call(string callId, string function, Dictionary<string, object?> arguments) =>
        (_, _) => new ChatMessage(ChatRole.Assistant, [new FunctionCallContent(callId, function, arguments)]);

    /// <summary>A step that answers with text.</summary>
    public static Func<IReadOnlyList<ChatMessage>, ChatOptions?, ChatMessage> Answer(string text) => (_, _) => new ChatMessage(ChatRole.Assistant, text);

    /// <summary>The result of <paramref name="callId"/> in the messages of call <paramref name="call"/>.</summary>
    public FunctionResultContent ResultOf(int call, string callId) =>
        Calls[call].Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().Single(r => r.CallId == callId);

    /// <summary>A tool result as the JSON a planner service is sent: the value serialized (a string holding JSON is parsed).</summary>
    public static JsonElement Json(object? result) => result switch
    {
        JsonElement element => element,
        string text => JsonDocument.Parse(text).RootElement.Clone(),
        _ => JsonSerializer.SerializeToElement(result, AIJsonUtilities.DefaultOptions),
    };

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        Calls.Add((list, options));
        if (Calls.Count > steps.Length) throw new InvalidOperationException($"the planner was called {Calls.Count} times; the script has {steps.Length} steps");
        return Task.FromResult(new ChatResponse(steps[Calls.Count - 1](list, options)) { ModelId = "scripted-planner" });
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var update in (await GetResponseAsync(messages, options, cancellationToken)).ToChatResponseUpdates())
            yield return update;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("scripted", null, "scripted-planner")
        : serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}
