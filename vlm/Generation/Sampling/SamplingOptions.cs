namespace InternVit.SK.Generation.Sampling;

/// <summary>
/// How the next token is chosen from the logits. The knobs mean what they mean in Hugging Face <c>generate</c>
/// (which the official InternVL <c>chat()</c> calls) and run in its order: repetition penalty, temperature, top-k,
/// top-p, then a draw from the softmax. <see cref="Temperature"/> 0 is greedy decoding (argmax; top-k and top-p are
/// ignored, the repetition penalty still applies, as with HF <c>do_sample=False</c>). Every value is checked when set.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Greedy decoding: temperature 0, no penalty.</summary>
    public static SamplingOptions Greedy { get; } = new();

    /// <summary>
    /// Divides the logits before sampling (HF <c>TemperatureLogitsWarper</c>); 0 (the default) means greedy decoding.
    /// Must be finite and ≥ 0.
    /// </summary>
    public float Temperature
    {
        get;
        init
        {
            if (!float.IsFinite(value) || value < 0)
                throw new ArgumentOutOfRangeException(nameof(Temperature), value, "Temperature must be a finite number ≥ 0 (0 = greedy).");
            field = value;
        }
    }

    /// <summary>
    /// Keeps only the tokens whose logit is at least the k-th largest (HF <c>TopKLogitsWarper</c>, ties kept); null
    /// keeps all. Must be ≥ 1. Note that HF <c>generate</c> defaults to 50 when the caller sets none, so reproducing
    /// <c>chat(..., do_sample=True)</c> without an explicit <c>top_k</c> means setting 50 here.
    /// </summary>
    public int? TopK
    {
        get;
        init
        {
            if (value is < 1)
                throw new ArgumentOutOfRangeException(nameof(TopK), value, "TopK must be ≥ 1.");
            field = value;
        }
    }

    /// <summary>
    /// Nucleus sampling (HF <c>TopPLogitsWarper</c>): keeps the most probable tokens whose probabilities add up to
    /// at least this, always at least one; null or 1 keeps all. Must be in (0, 1].
    /// </summary>
    public float? TopP
    {
        get;
        init
        {
            if (value is { } p && !(p > 0 && p <= 1))
                throw new ArgumentOutOfRangeException(nameof(TopP), value, "TopP must be in (0, 1].");
            field = value;
        }
    }

    /// <summary>
    /// HF <c>RepetitionPenaltyLogitsProcessor</c>: every distinct token generated so far has a negative logit
    /// multiplied and a positive one divided by this. 1 (the default) is off, above 1 discourages repeats. Only the
    /// generated tokens count, not the prompt: InternVL calls <c>generate</c> with <c>inputs_embeds</c> alone, so HF's
    /// <c>input_ids</c> start empty. Must be finite and &gt; 0.
    /// </summary>
    public float RepetitionPenalty
    {
        get;
        init
        {
            if (!float.IsFinite(value) || value <= 0)
                throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), value, "RepetitionPenalty must be a finite number > 0 (1 = off).");
            field = value;
        }
    } = 1f;

    /// <summary>
    /// Seeds the sampler's own random generator: the same seed, options and logits give the same tokens. Null picks a
    /// random seed. Unused by greedy decoding.
    /// </summary>
    public long? Seed { get; init; }

    /// <summary>Whether these options decode greedily (temperature 0).</summary>
    public bool IsGreedy => Temperature == 0;
}
