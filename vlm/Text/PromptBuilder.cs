using System.Text;
using InternVit.SK.Checkpoints;

namespace InternVit.SK.Text;

/// <summary>One earlier exchange of a conversation: the question as it was asked (with its <c>&lt;image&gt;</c> placeholders) and the answer.</summary>
public sealed record ChatTurn(string Question, string Answer);

/// <summary>A prompt ready to tokenize.</summary>
/// <param name="Query">The full text the model reads, with every image expanded to <c>&lt;img&gt;</c> + <c>&lt;IMG_CONTEXT&gt;</c> × tokens + <c>&lt;/img&gt;</c>.</param>
/// <param name="Question">The question as <c>chat()</c> records it in the history (placeholders kept, <c>&lt;image&gt;\n</c> prepended where it added one).</param>
/// <param name="ImageTokenCount">How many <c>&lt;IMG_CONTEXT&gt;</c> tokens the query holds, in image order.</param>
public sealed record ChatPrompt(string Query, string Question, int ImageTokenCount);

/// <summary>
/// Builds prompts the way the official <c>InternVLChatModel.chat()</c> does (modeling_internvl_chat.py, OpenGVLab/InternVL
/// commit 2410d1d):
/// <list type="number">
/// <item>With no history and images but no <c>&lt;image&gt;</c> in the question, <c>&lt;image&gt;\n</c> is prepended.
/// For several images this class prepends the README's multi-image convention instead,
/// <c>Image-1: &lt;image&gt;\nImage-2: &lt;image&gt;\n</c>, where the official code would prepend one placeholder and then fail.</item>
/// <item>The history's (question, answer) pairs, then the question and an open assistant turn, go through the template.</item>
/// <item>Each <c>&lt;image&gt;</c> of the whole query, in order, becomes <c>&lt;img&gt;</c> + <c>&lt;IMG_CONTEXT&gt;</c> × (tokens per tile × tiles) + <c>&lt;/img&gt;</c>
/// for the next image (<c>num_patches_list</c>).</item>
/// </list>
/// Generation stops at the template's <see cref="ConversationTemplate.StopToken"/>; <see cref="ExtractResponse"/> is
/// chat()'s post-processing of the decoded output.
/// </summary>
public sealed class PromptBuilder
{
    /// <summary>The image placeholder in questions.</summary>
    public const string ImagePlaceholder = "<image>";
    /// <summary>Opens an image's tokens.</summary>
    public const string ImageStartToken = "<img>";
    /// <summary>Closes an image's tokens.</summary>
    public const string ImageEndToken = "</img>";
    /// <summary>One image feature position.</summary>
    public const string ImageContextToken = "<IMG_CONTEXT>";

    /// <summary>Creates a builder for <paramref name="template"/>.</summary>
    /// <param name="template">The conversation template.</param>
    /// <param name="tokensPerTile">LLM tokens per image tile (<see cref="InternVLConfig.TokensPerTile"/>, 256 for 448-pixel tiles).</param>
    /// <param name="systemMessage">The system message; null for the template's own (what the model's <c>system_message</c> defaults to).</param>
    public PromptBuilder(ConversationTemplate template, int tokensPerTile, string? systemMessage = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokensPerTile);
        Template = template;
        TokensPerTile = tokensPerTile;
        SystemMessage = systemMessage ?? template.SystemMessage;
    }

    /// <summary>A builder for a checkpoint: its <c>template</c> and tokens per tile.</summary>
    /// <exception cref="ArgumentException">The config names no template, or one that is not supported.</exception>
    public static PromptBuilder ForCheckpoint(InternVLConfig config, string? systemMessage = null) =>
        new(ConversationTemplate.Get(config.Template ?? throw new ArgumentException("the checkpoint's config.json names no conversation template", nameof(config))),
            config.TokensPerTile, systemMessage);

    /// <summary>The conversation template.</summary>
    public ConversationTemplate Template { get; }

    /// <summary>LLM tokens per image tile.</summary>
    public int TokensPerTile { get; }

    /// <summary>The system message every prompt starts with.</summary>
    public string SystemMessage { get; }

    /// <summary>The prompt for <paramref name="question"/> about images of <paramref name="tilesPerImage"/> tiles each, after <paramref name="history"/>.</summary>
    /// <exception cref="ArgumentException">More images than <c>&lt;image&gt;</c> placeholders in the query, or a tile count below 1.</exception>
    public ChatPrompt Build(string question, IReadOnlyList<int> tilesPerImage, IReadOnlyList<ChatTurn>? history = null)
    {
        bool noHistory = history is null || history.Count == 0;
        if (noHistory && tilesPerImage.Count > 0 && !question.Contains(ImagePlaceholder, StringComparison.Ordinal))
            question = ImagePrefix(tilesPerImage.Count) + question;

        var messages = new List<(string, string?)>();
        foreach (var turn in history ?? [])
        {
            messages.Add((Template.UserRole, turn.Question));
            messages.Add((Template.AssistantRole, turn.Answer));
        }
        messages.Add((Template.UserRole, question));
        messages.Add((Template.AssistantRole, null));
        string query = Template.Render(SystemMessage, messages);

        var expanded = new StringBuilder(query.Length + 16);
        int at = 0, imageTokens = 0;
        for (int image = 0; image < tilesPerImage.Count; image++)
        {
            int tiles = tilesPerImage[image];
            if (tiles < 1) throw new ArgumentException($"image {image + 1} has {tiles} tiles; every image has at least one", nameof(tilesPerImage));
            int placeholder = query.IndexOf(ImagePlaceholder, at, StringComparison.Ordinal);
            if (placeholder < 0)
                throw new ArgumentException($"{tilesPerImage.Count} images but only {image} '{ImagePlaceholder}' placeholders in the conversation", nameof(tilesPerImage));
            expanded.Append(query, at, placeholder - at);
            AppendImageTokens(expanded, tiles * TokensPerTile);
            imageTokens += tiles * TokensPerTile;
            at = placeholder + ImagePlaceholder.Length;
        }
        expanded.Append(query, at, query.Length - at);
        return new ChatPrompt(expanded.ToString(), question, imageTokens);
    }

    /// <summary>The ids generation stops at: the template's stop token (<c>eos_token_id</c> in chat()), when the tokenizer has it.</summary>
    public int[] StopTokenIds(Qwen2Tokenizer tokenizer) => tokenizer.TokenToId(Template.StopToken) is int id ? [id] : [];

    /// <summary>
    /// chat()'s answer from the decoded output (decoded with <c>skip_special_tokens</c>):
    /// <c>response.split(template.sep.strip())[0].strip()</c>.
    /// </summary>
    public string ExtractResponse(string decoded)
    {
        int stop = decoded.IndexOf(Template.StopToken, StringComparison.Ordinal);
        return PythonText.Strip(stop >= 0 ? decoded[..stop] : decoded);
    }

    /// <summary>How many <c>&lt;image&gt;</c> placeholders <paramref name="text"/> holds.</summary>
    public static int CountPlaceholders(string text)
    {
        int count = 0;
        for (int at = text.IndexOf(ImagePlaceholder, StringComparison.Ordinal); at >= 0; at = text.IndexOf(ImagePlaceholder, at + ImagePlaceholder.Length, StringComparison.Ordinal))
            count++;
        return count;
    }

    /// <summary>The placeholders put in front of a question that has none: <c>&lt;image&gt;\n</c>, or <c>Image-1: &lt;image&gt;\nImage-2: &lt;image&gt;\n</c>... for several.</summary>
    public static string ImagePrefix(int imageCount)
    {
        if (imageCount == 1) return ImagePlaceholder + "\n";
        var prefix = new StringBuilder();
        for (int i = 1; i <= imageCount; i++) prefix.Append("Image-").Append(i).Append(": ").Append(ImagePlaceholder).Append('\n');
        return prefix.ToString();
    }

    private static void AppendImageTokens(StringBuilder text, int count)
    {
        text.Append(ImageStartToken);
        text.EnsureCapacity(text.Length + count * ImageContextToken.Length + ImageEndToken.Length);
        for (int i = 0; i < count; i++) text.Append(ImageContextToken);
        text.Append(ImageEndToken);
    }
}
