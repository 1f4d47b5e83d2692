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
    /// Whether the answer's text leaves out special tokens (default true, what <c>chat()</c> returns). False keeps them,
    /// e.g. the grounding tags <c>&lt;ref&gt;</c> and <c>&lt;box&gt;</c>; the stop token that ends the answer is never part of it
    /// (as vLLM's and lmdeploy's <c>skip_special_tokens: false</c>).
    /// </summary>
    public bool SkipSpecialTokens { get; init; } = true;

    /// <summary>How images are decoded (limits, EXIF orientation, alpha).</summary>
    public Imaging.ImageDecodeOptions? ImageDecoding { get; init; }

    /// <summary>Called as each stage starts ("vision", "prefill"): a seam for tests that must act at a precise point.</summary>
    internal Action<string>? StageStarted { get; init; }

    /// <summary>Checks every value (at least one new token, no negative minimum, max tiles in range); generation calls this too.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the exception names the property.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxNewTokens, 1, nameof(MaxNewTokens));
        ArgumentOutOfRangeException.ThrowIfNegative(MinNewTokens, nameof(MinNewTokens));
        Imaging.Tiling.TilingOptions.CheckMaxTiles(MaxTiles, nameof(MaxTiles));
    }
}
