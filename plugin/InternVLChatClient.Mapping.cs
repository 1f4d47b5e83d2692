using System.Globalization;
using System.Text;
using System.Text.Json;
using InternVit.SK.Generation;
using InternVit.SK.Generation.Sampling;
using InternVit.SK.Text;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Plugin;

/// <summary>Request and response mapping between Microsoft.Extensions.AI and InternVit.SK generation.</summary>
public sealed partial class InternVLChatClient
{
    /// <summary><see cref="ChatOptions.AdditionalProperties"/> key: most tiles per image for this request (1–40).</summary>
    public const string MaxTilesProperty = "max_tiles";

    /// <summary><see cref="ChatOptions.AdditionalProperties"/> key: the HF repetition penalty (1 = off).</summary>
    public const string RepetitionPenaltyProperty = "repetition_penalty";

    /// <summary>
    /// <see cref="ChatOptions.AdditionalProperties"/> key: InternVL3.5's thinking mode (<see cref="GenerationOptions.Thinking"/>),
    /// true or false (a bool, a JSON boolean or the string "true"/"false"); the name vLLM and Qwen3 use in <c>chat_template_kwargs</c>.
    /// </summary>
    public const string ThinkingProperty = "enable_thinking";

    /// <summary>
    /// <see cref="ChatOptions.AdditionalProperties"/> key: false keeps the special tokens the model writes (the grounding
    /// tags <c>&lt;ref&gt;</c>, <c>&lt;box&gt;</c>...) in the text; the stop token is never kept. vLLM and lmdeploy read the same field.
    /// </summary>
    public const string SkipSpecialTokensProperty = "skip_special_tokens";

    /// <summary><see cref="UsageDetails.AdditionalCounts"/> key: image tokens of the prompt.</summary>
    public const string ImageTokensCount = "image_tokens";

    private const string AnyImageMediaType = "image/*";

    /// <summary>A chat transcript as an InternVL conversation: system prompt, answered turns, and the question to answer.</summary>
    internal sealed record Request(string? SystemPrompt, IReadOnlyList<ConversationTurn> History, string Question, IReadOnlyList<ImageInput> Images);

    private sealed class UserTurn
    {
        public readonly List<string> Texts = [];
        public readonly List<ImageInput> Images = [];
    }

    internal async Task<Request> ToRequestAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        var system = new List<string>();
        var history = new List<ConversationTurn>();
        UserTurn? user = null;
        ChatRole? previous = null;
        foreach (var message in messages)
        {
            ArgumentNullException.ThrowIfNull(message, nameof(messages));
            if (message.Role == ChatRole.System)
            {
                system.Add(TextOf(message));
            }
            else if (message.Role == ChatRole.User)
            {
                user ??= new UserTurn();
                await AddUserContentsAsync(message, user, cancellationToken).ConfigureAwait(false);
            }
            else if (message.Role == ChatRole.Assistant)
            {
                // As the conversation would have recorded it: reasoning (TextReasoningContent) back inside <think>…</think>.
                string answer = ThinkingMode.HistoryAnswer(ReasoningOf(message), TextOf(message));
                if (user is not null)
                {
                    var (question, images) = Close(user);
                    history.Add(new ConversationTurn(question, images, answer));
                    user = null;
                }
                else if (previous == ChatRole.Assistant)
                {
                    history[^1] = history[^1] with { Answer = history[^1].Answer + "\n" + answer }; // consecutive assistant messages: one answer
                }
                else
                {
                    throw new ArgumentException("an assistant message must follow a user message", nameof(messages));
                }
            }
            else
            {
                throw new NotSupportedException($"messages with role '{message.Role}' are not supported: InternVL has no tool-call format, so the client neither emits nor accepts tool messages");
            }
            if (message.Role != ChatRole.System) previous = message.Role;
        }
        if (user is null) throw new ArgumentException("the last message (other than system messages) must be a user message to answer", nameof(messages));
        if (!string.IsNullOrWhiteSpace(options?.Instructions)) system.Add(options.Instructions);
        var (text, current) = Close(user);
        return new Request(system.Count > 0 ? string.Join("\n", system) : null, history, text, current);
    }

    private async Task AddUserContentsAsync(ChatMessage message, UserTurn user, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        foreach (var content in message.Contents)
        {
            switch (content)
            {
                case DataContent data:
                    CheckImageMediaType(data.MediaType, "data");
                    user.Images.Add(ImageInput.FromBytes(data.Data, ImageMaxTiles(data)));
                    break;
                case UriContent uri:
                    if (!uri.Uri.IsAbsoluteUri || !uri.Uri.IsFile)
                        throw new NotSupportedException($"image URIs with scheme '{(uri.Uri.IsAbsoluteUri ? uri.Uri.Scheme : "relative")}' are not supported: only file: URIs under the allowed roots; download other images and pass them as DataContent");
                    // "image/*": an image of unstated format (what Semantic Kernel gives an ImageContent with a URI and no
                    // MIME type); the decoder tells the format from the bytes and refuses what it cannot read.
                    if (!uri.MediaType.Equals(AnyImageMediaType, StringComparison.OrdinalIgnoreCase)) CheckImageMediaType(uri.MediaType, "uri");
                    user.Images.Add(ImageInput.FromBytes(await _sources.ReadFileAsync(uri.Uri, cancellationToken).ConfigureAwait(false), ImageMaxTiles(uri)));
                    break;
                default:
                    if (!AppendText(text, content)) throw Unsupported(content);
                    break;
            }
        }
        if (text.Length > 0) user.Texts.Add(text.ToString());
    }

    /// <summary>An image's own tile limit: <c>"max_tiles"</c> in its content's additional properties (lmdeploy's per-image <c>max_dynamic_patch</c>).</summary>
    private static int? ImageMaxTiles(AIContent content)
    {
        if (content.AdditionalProperties is null) return null;
        double? tiles = Number(new ChatOptions { AdditionalProperties = content.AdditionalProperties }, MaxTilesProperty);
        return tiles is null ? null
            : tiles == Math.Floor(tiles.Value) && tiles is >= 1 and <= int.MaxValue ? (int)tiles.Value : throw new ArgumentException($"an image's '{MaxTilesProperty}' must be a whole number, not {tiles}");
    }

    /// <summary>The turn's text, checked against its images: placeholders, if any, one per image.</summary>
    private static (string Text, IReadOnlyList<ImageInput> Images) Close(UserTurn user)
    {
        string text = string.Join("\n", user.Texts);
        int placeholders = PromptBuilder.CountPlaceholders(text);
        if (placeholders > 0 && placeholders != user.Images.Count)
            throw new ArgumentException($"a user turn has {placeholders} '{PromptBuilder.ImagePlaceholder}' placeholders but {user.Images.Count} images; give one image per placeholder, or no placeholders");
        return (text, user.Images.ToArray());
    }

    private static string TextOf(ChatMessage message)
    {
        var text = new StringBuilder();
        foreach (var content in message.Contents)
            if (!AppendText(text, content)) throw Unsupported(content, $"in a {message.Role} message");
        return text.ToString();
    }

    /// <summary>The reasoning of an assistant message: its <see cref="TextReasoningContent"/> texts joined; null when it has none.</summary>
    private static string? ReasoningOf(ChatMessage message)
    {
        string? reasoning = null;
        foreach (var content in message.Contents)
            if (content is TextReasoningContent r) reasoning = reasoning is null ? r.Text ?? "" : reasoning + r.Text;
        return reasoning;
    }

    /// <summary>Appends a text content; usage and reasoning (read apart by <see cref="ReasoningOf"/>) are skipped; false for anything else.</summary>
    private static bool AppendText(StringBuilder text, AIContent content)
    {
        if (content is TextContent t) text.Append(t.Text);
        return content is TextContent or UsageContent or TextReasoningContent;
    }

    private static void CheckImageMediaType(string mediaType, string kind)
    {
        if (!ImageSources.ImageMediaTypes.Contains(mediaType))
            throw new NotSupportedException(mediaType.StartsWith("image/", StringComparison.OrdinalIgnoreCase)
                ? $"{kind} content of media type '{mediaType}' is not supported; InternVL reads image/png, image/jpeg, image/webp, image/gif and image/bmp"
                : $"{kind} content of media type '{mediaType}' is not supported; InternVL reads text and images (image/png, image/jpeg, image/webp, image/gif, image/bmp)");
    }

    private static NotSupportedException Unsupported(AIContent content, string where = "in a user message") => content switch
    {
        FunctionCallContent or FunctionResultContent =>
            new NotSupportedException($"{content.GetType().Name} {where} is not supported: InternVL has no tool-call format; invoke tools with a planner model and pass their results as text"),
        _ => new NotSupportedException($"{content.GetType().Name} {where} is not supported; InternVL reads text and PNG, JPEG, WebP, GIF or BMP images"),
    };

    internal GenerationOptions ToGenerationOptions(ChatOptions? options)
    {
        if (options?.ToolMode is RequiredChatToolMode)
            throw new NotSupportedException("a required tool mode is not supported: InternVL has no tool-call format, so the client cannot call a tool");
        if (options?.ResponseFormat is ChatResponseFormatJson)
            throw new NotSupportedException("JSON response formats are not supported: InternVL generates free text without constrained decoding; ask for JSON in the prompt instead");
        float? repetitionPenalty = Number(options, RepetitionPenaltyProperty) is { } rp ? (float)rp : null;
        int? maxTiles = Number(options, MaxTilesProperty) is { } tiles
            ? tiles == Math.Floor(tiles) && tiles is >= 1 and <= int.MaxValue ? (int)tiles : throw new ArgumentException($"'{MaxTilesProperty}' must be a whole number, not {tiles}")
            : null;
        return new GenerationOptions
        {
            MaxNewTokens = options?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens,
            Sampling = new SamplingOptions
            {
                Temperature = options?.Temperature ?? 0,
                TopK = options?.TopK,
                TopP = options?.TopP,
                Seed = options?.Seed,
                RepetitionPenalty = repetitionPenalty ?? 1f,
            },
            StopSequences = options?.StopSequences?.ToArray() ?? [],
            MaxTiles = maxTiles,
            Thinking = Boolean(options, ThinkingProperty) ?? false,
            SkipSpecialTokens = Boolean(options, SkipSpecialTokensProperty) ?? true,
        };
    }

    /// <summary>A boolean additional property: a bool, a JSON boolean or the string "true"/"false" (any case).</summary>
    private static bool? Boolean(ChatOptions? options, string key)
    {
        if (options?.AdditionalProperties is not { } properties || !properties.TryGetValue(key, out object? value) || value is null) return null;
        return value switch
        {
            bool b => b,
            JsonElement { ValueKind: JsonValueKind.True } => true,
            JsonElement { ValueKind: JsonValueKind.False } => false,
            string s when bool.TryParse(s, out bool parsed) => parsed,
            _ => throw new ArgumentException($"the additional property '{key}' must be true or false, not {value.GetType().Name} '{value}'"),
        };
    }

    /// <summary>A numeric additional property: a number, a JSON number or a numeric string (invariant culture).</summary>
    private static double? Number(ChatOptions? options, string key) =>
        options?.AdditionalProperties is { } properties && properties.TryGetValue(key, out object? value) ? NumberValue(key, value) : null;

    /// <summary>The value of the numeric additional property <paramref name="key"/> (null when absent), also for the remote client.</summary>
    internal static double? NumberValue(string key, object? value) => value switch
    {
        null => null,
        int i => i,
        long l => l,
        float f => f,
        double d => d,
        decimal m => (double)m,
        JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
        string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
        _ => throw new ArgumentException($"the additional property '{key}' must be a number, not {value.GetType().Name} '{value}'"),
    };

    private static UsageDetails ToUsage(GenerationUsage usage) => new()
    {
        InputTokenCount = usage.PromptTokens,
        OutputTokenCount = usage.CompletionTokens,
        TotalTokenCount = usage.PromptTokens + usage.CompletionTokens,
        CachedInputTokenCount = usage.CachedPromptTokens,
        AdditionalCounts = new() { [ImageTokensCount] = usage.ImageTokens },
    };

    private static ChatFinishReason ToFinishReason(FinishReason reason) => reason switch
    {
        FinishReason.Length => ChatFinishReason.Length,
        _ => ChatFinishReason.Stop, // the stop token, or a caller's stop sequence
    };
}
