using InternVit.SK.Generation.Sampling;

namespace InternVit.SK.Generation;

/// <summary>Per-request generation settings.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate (the context window may cut it shorter).</summary>
    public int MaxNewTokens { get; init; } = 512;

    /// <summary>Fewest tokens to generate: stop tokens are suppressed until then (Hugging Face's <c>min_new_tokens</c>).</summary>
    public int MinNewTokens { get; init; }

    /// <summary>Token selection: greedy by default.</summary>
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Strings that end the answer when they appear in the text; they are never emitted.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];

    /// <summary>Most tiles for images of this turn without their own limit (null: the model's default).</summary>
    public int? MaxTiles { get; init; }

    /// <summary>
    /// InternVL3.5's thinking mode: the prompt's system message becomes <see cref="ThinkingMode.SystemPrompt"/> (the
    /// conversation's own system prompt, if it has one, follows it after a new line; see <see cref="ThinkingMode.SystemMessage"/>),
    /// so the model reasons inside <c>&lt;think&gt;…&lt;/think&gt;</c> before answering. The reasoning comes apart from the
    /// answer (<see cref="GenerationResult.Reasoning"/>, <see cref="GenerationUpdate.Reasoning"/>) whether this is set or not.
    /// It applies to the prompt of this turn (the whole history is rendered under that system message, as <c>chat()</c>
    /// renders it under the model's <c>system_message</c>). Default false.
    /// </summary>
    public bool Thinking { get; init; }

    /// <summary>
    /// Whether the answer's text leaves out special tokens (default true, what <c>chat()</c> returns). False keeps them,
    /// e.g. the grounding tags <c>&lt;ref&gt;</c> and <c>&lt;box&gt;</c>; the stop token that ends the answer is never part of it
    /// (as vLLM's and lmdeploy's <c>skip_special_tokens: false</c>).
    /// </summary>
    public bool SkipSpecialTokens { get; init; } = true;

    /// <summary>How images are decoded (limits, EXIF orientation, alpha).</summary>
    public Imaging.ImageDecodeOptions? ImageDecoding { get; init; }

    /// <summary>Called as each stage starts ("vision", "prefill"): a seam for tests that must act at a precise point.</summary>
    internal Action<string>? StageStarted { get; init; }

    /// <summary>Called with the prompt's token ids once they are known: a seam for tests that check the prompt exactly.</summary>
    internal Action<IReadOnlyList<int>>? PromptEncoded { get; init; }

    /// <summary>Checks every value (at least one new token, no negative minimum, max tiles in range); generation calls this too.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the exception names the property.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxNewTokens, 1, nameof(MaxNewTokens));
        ArgumentOutOfRangeException.ThrowIfNegative(MinNewTokens, nameof(MinNewTokens));
        Imaging.Tiling.TilingOptions.CheckMaxTiles(MaxTiles, nameof(MaxTiles));
    }
}
