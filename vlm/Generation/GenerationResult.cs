namespace InternVit.SK.Generation;

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>The model emitted a stop token (the template's, or end of sequence).</summary>
    Stop,

    /// <summary>A caller stop string appeared in the text.</summary>
    StopSequence,

    /// <summary>The token limit or the context window was reached.</summary>
    Length,
}

/// <summary>Token counts of one generation.</summary>
/// <param name="PromptTokens">Tokens in the prompt, image tokens included.</param>
/// <param name="ImageTokens">Of those, the <c>&lt;IMG_CONTEXT&gt;</c> positions filled with image features.</param>
/// <param name="CompletionTokens">Tokens generated (a final stop token included).</param>
public sealed record GenerationUsage(int PromptTokens, int ImageTokens, int CompletionTokens)
{
    /// <summary>Of the prompt tokens, those whose keys and values came from a kept KV cache (prefix reuse) instead of the prefill.</summary>
    public int CachedPromptTokens { get; init; }

    /// <summary>Images of the prompt whose features were not encoded for this turn (the image-feature cache, or the conversation's earlier turns).</summary>
    public int CachedImages { get; init; }

    /// <summary>Images of the prompt, earlier turns' included.</summary>
    public int Images { get; init; }
}

/// <summary>Where the time of one generation went.</summary>
/// <param name="Preprocess">Decoding and tiling the images.</param>
/// <param name="Vision">The vision encoder.</param>
/// <param name="Prefill">The decoder over the prompt (until the first token's logits).</param>
/// <param name="Decode">The decoder for the following tokens.</param>
/// <param name="TimeToFirstToken">From the call to the first generated token.</param>
public sealed record GenerationTimings(TimeSpan Preprocess, TimeSpan Vision, TimeSpan Prefill, TimeSpan Decode, TimeSpan TimeToFirstToken)
{
    /// <summary>Generated tokens per second of <see cref="Decode"/> (tokens after the first).</summary>
    public double DecodeTokensPerSecond(int completionTokens) =>
        completionTokens > 1 && Decode > TimeSpan.Zero ? (completionTokens - 1) / Decode.TotalSeconds : 0;
}

/// <summary>
/// The answer to one user turn. An output that opens with a <c>&lt;think&gt;…&lt;/think&gt;</c> block (InternVL3.5's
/// thinking mode, <see cref="GenerationOptions.Thinking"/>) comes in two parts: <see cref="Reasoning"/>, the text inside
/// the block, and <see cref="Text"/>, the answer after it. Without such a block, <see cref="Reasoning"/> is null and
/// <see cref="Text"/> is the whole output, as it always was.
/// </summary>
/// <param name="Text">The answer: the generated text (special tokens and stop strings removed) after the reasoning block
/// and the whitespace that follows it; the whole generated text when there is no block.</param>
/// <param name="TokenIds">The generated token ids, a final stop token included.</param>
/// <param name="FinishReason">Why generation ended.</param>
/// <param name="Usage">Token counts.</param>
/// <param name="Timings">Time per stage.</param>
public sealed record GenerationResult(string Text, IReadOnlyList<int> TokenIds, FinishReason FinishReason, GenerationUsage Usage, GenerationTimings Timings)
{
    /// <summary>
    /// The text inside the leading <c>&lt;think&gt;…&lt;/think&gt;</c> block, as generated (null when the output has no
    /// such block; everything after <c>&lt;think&gt;</c> when the block was cut off by the token limit).
    /// </summary>
    public string? Reasoning { get; init; }
}

/// <summary>
/// One step of a streamed generation: the text that became safe to show (possibly empty while a multi-byte character,
/// a possible stop string or a possible <c>&lt;think&gt;</c> tag is held back) and the token that produced it. Reasoning
/// and answer text arrive apart: all reasoning pieces come before the first answer piece. The last update carries the
/// <see cref="Result"/>; the pieces of <see cref="Text"/> add up to its <see cref="GenerationResult.Text"/>, those of
/// <see cref="Reasoning"/> to its <see cref="GenerationResult.Reasoning"/>.
/// </summary>
/// <param name="Text">New answer text.</param>
/// <param name="TokenId">The token generated at this step (null on the final update).</param>
/// <param name="Result">Set on the final update only.</param>
public sealed record GenerationUpdate(string Text, int? TokenId, GenerationResult? Result)
{
    /// <summary>New reasoning text (inside the <c>&lt;think&gt;</c> block); "" when this step added none.</summary>
    public string Reasoning { get; init; } = "";
}

/// <summary>The prompt does not fit the context window; nothing was run.</summary>
public sealed class ContextWindowExceededException : InvalidOperationException
{
    internal ContextWindowExceededException(int promptTokens, int imageTokens, int contextWindow)
        : this(promptTokens, contextWindow, $"the prompt is {promptTokens} tokens ({imageTokens} of them for images) but the context window holds {contextWindow}; " +
               "use fewer tiles per image, fewer images or a shorter history")
    {
    }

    internal ContextWindowExceededException(int promptTokens, int contextWindow, string message)
        : base(message)
    {
        PromptTokens = promptTokens;
        ContextWindow = contextWindow;
    }

    /// <summary>Tokens the prompt needs.</summary>
    public int PromptTokens { get; }

    /// <summary>Tokens the model accepts.</summary>
    public int ContextWindow { get; }
}
