using InternVit.SK.ModelFolder;
using System.Runtime.CompilerServices;
using InternVit.SK.Export;
using InternVit.SK.Generation;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Plugin;

/// <summary>How <see cref="InternVLChatClient"/> maps requests.</summary>
public sealed record InternVLChatClientOptions
{
    /// <summary>The model id reported in metadata and responses (null: the model folder's name).</summary>
    public string? ModelId { get; init; }

    /// <summary>Where <c>file:</c> <see cref="UriContent"/> images may be read from (no root: file URIs are refused).</summary>
    public ImageSourceOptions ImageSources { get; init; } = new();

    /// <summary>Most tokens to generate when <see cref="ChatOptions.MaxOutputTokens"/> is not set (default 512).</summary>
    public int DefaultMaxOutputTokens { get; init; } = 512;
}

/// <summary>
/// An <see cref="IChatClient"/> over a local InternVL model: text and images in (<see cref="DataContent"/> PNG/JPEG/WebP/GIF/BMP,
/// <see cref="UriContent"/> <c>file:</c> URIs under allowed roots), text out, streamed token by token. Register it as
/// Semantic Kernel's chat service, or wrap it with Microsoft.Extensions.AI middleware. See the mapping rules on
/// <see cref="GetStreamingResponseAsync"/>. Safe for concurrent use: each request runs its own conversation on the
/// shared model (graph runs are serialized on the model, so results are exact).
/// </summary>
public sealed partial class InternVLChatClient : IChatClient
{
    private readonly bool _ownsModel;
    private readonly InternVLChatClientOptions _options;
    private readonly ImageSources _sources;

    /// <summary>Creates a client over <paramref name="model"/>.</summary>
    /// <param name="model">The loaded model.</param>
    /// <param name="options">Mapping options (null: defaults, no file access).</param>
    /// <param name="ownsModel">Whether disposing the client disposes the model.</param>
    public InternVLChatClient(InternVLModel model, InternVLChatClientOptions? options = null, bool ownsModel = false)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        _options = options ?? new InternVLChatClientOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.DefaultMaxOutputTokens, 1, nameof(options));
        _sources = new ImageSources(_options.ImageSources);
        _ownsModel = ownsModel;
        string modelId = _options.ModelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(model.Directory));
        Metadata = new ChatClientMetadata("internvit-sk", new Uri(Path.TrimEndingDirectorySeparator(model.Directory) + Path.DirectorySeparatorChar), modelId);
    }

    /// <summary>Loads the model at <paramref name="path"/> (see <see cref="InternVLModel.LoadAsync"/>) into a client that owns it.</summary>
    public static async Task<InternVLChatClient> LoadAsync(string path, InternVLModelOptions? modelOptions = null, InternVLChatClientOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var model = await InternVLModel.LoadAsync(path, modelOptions, null, cancellationToken).ConfigureAwait(false);
        try
        {
            return new InternVLChatClient(model, options, ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Called after every generation with the conversation and the result; a test seam.</summary>
    internal Action<Conversation, GenerationResult>? Generated { get; set; }

    /// <summary>The model answering.</summary>
    public InternVLModel Model { get; }

    /// <summary>Provider name, model folder and model id.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <summary>Answers the last user message: <see cref="GetStreamingResponseAsync"/> aggregated.</summary>
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    /// <summary>
    /// Answers the last user message as a stream of updates, one per generated token: an answer that opens with a
    /// <c>&lt;think&gt;…&lt;/think&gt;</c> block streams its reasoning first as <see cref="TextReasoningContent"/> updates,
    /// then the answer as <see cref="TextContent"/> updates (so <see cref="ChatResponse.Text"/> is the answer alone); the last update carries
    /// <see cref="UsageContent"/> (input, output and total tokens; input tokens whose KV came from the model's prefix cache
    /// as <see cref="UsageDetails.CachedInputTokenCount"/>; image tokens under <c>"image_tokens"</c>) and the
    /// <see cref="ChatFinishReason"/>. Messages map to an InternVL conversation:
    /// <list type="bullet">
    /// <item>system messages (and <see cref="ChatOptions.Instructions"/>) form the system prompt, joined by new lines
    /// (none: the model's own system message);</item>
    /// <item>consecutive user messages merge into one turn (texts joined by new lines, images in order); each
    /// assistant message answers the user turn before it, and earlier turns keep their images;</item>
    /// <item>an assistant message's <see cref="TextReasoningContent"/> goes back into the history as the conversation
    /// keeps it (<see cref="ThinkingMode.HistoryAnswer"/>: <c>&lt;think&gt;{reasoning}&lt;/think&gt;\n\n{answer}</c>, stripped; an
    /// answer without reasoning is stripped), so a response fed back gives the prompt a <see cref="Conversation"/> would build;</item>
    /// <item>a user turn's images fill the <c>&lt;image&gt;</c> placeholders of its text in order; a text without
    /// placeholders gets them prepended as the official <c>chat()</c> does (<c>Image-1: &lt;image&gt;\n</c>... for several);</item>
    /// <item>the last message must be from the user; tool messages, function calls, audio and media types other than
    /// PNG, JPEG, WebP, GIF and BMP are refused with a <see cref="NotSupportedException"/> naming them (a <c>file:</c>
    /// <see cref="UriContent"/> may say <c>image/*</c>, as Semantic Kernel's <c>ImageContent</c> without a MIME type does:
    /// the bytes tell the format).</item>
    /// </list>
    /// Options: MaxOutputTokens, Temperature, TopP, TopK, Seed and StopSequences map to the generation options;
    /// <see cref="ChatOptions.AdditionalProperties"/> may carry <c>"max_tiles"</c> (1–40), <c>"repetition_penalty"</c>,
    /// <c>"enable_thinking"</c> (<see cref="ThinkingProperty"/>: InternVL3.5's thinking system prompt, ahead of the
    /// request's own system prompt if it has one; see <see cref="ThinkingMode.SystemMessage"/>)
    /// and <c>"skip_special_tokens"</c> (false keeps special tokens such as the grounding tags in the text).
    /// <see cref="ChatOptions.ModelId"/> is ignored (one client serves one model; responses carry its id).
    /// <see cref="ChatOptions.Tools"/> are ignored: InternVL has no tool-call format, so the client never emits or
    /// invokes function calls; a <see cref="ChatToolMode.RequireAny"/> tool mode and JSON response formats are refused.
    /// </summary>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var generation = ToGenerationOptions(options);
        var request = await ToRequestAsync(messages, options, cancellationToken).ConfigureAwait(false);
        var conversation = Model.StartConversation(request.SystemPrompt);
        foreach (var turn in request.History) conversation.AddTurn(turn.Question, turn.Images, turn.Answer);

        string responseId = Guid.NewGuid().ToString("N");
        string messageId = Guid.NewGuid().ToString("N");
        var createdAt = DateTimeOffset.UtcNow;
        await foreach (var update in conversation.StreamAsync(request.Question, request.Images, generation, cancellationToken).ConfigureAwait(false))
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Reasoning pieces all come before the first answer piece; one step may end the one and start the other. The
            // final step carries what the detokenizer, the stop matcher and the reasoning split still held, then the usage.
            if (update.Reasoning.Length > 0) yield return Update([new TextReasoningContent(update.Reasoning)]);
            if (update.Text.Length > 0) yield return Update([new TextContent(update.Text)]);
            if (update.Result is { } result)
            {
                Generated?.Invoke(conversation, result);
                var last = Update([new UsageContent(ToUsage(result.Usage))]);
                last.FinishReason = ToFinishReason(result.FinishReason);
                last.RawRepresentation = result;
                yield return last;
            }
        }

        ChatResponseUpdate Update(IList<AIContent> contents) => new(ChatRole.Assistant, contents)
        {
            ResponseId = responseId,
            MessageId = messageId,
            CreatedAt = createdAt,
            ModelId = Metadata.DefaultModelId,
        };
    }

    /// <summary>
    /// Metadata (<see cref="ChatClientMetadata"/>), the model (<see cref="InternVLModel"/>), its manifest
    /// (<see cref="ModelManifest"/>), or this client; null for keyed requests and anything else.
    /// </summary>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType == typeof(InternVLModel)) return Model;
        if (serviceType == typeof(ModelManifest)) return Model.Manifest;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Disposes the model when the client owns it.</summary>
    public void Dispose()
    {
        _sources.Dispose();
        if (_ownsModel) Model.Dispose();
    }
}
