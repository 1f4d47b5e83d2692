namespace InternVit.SK.Generation.Sampling;

/// <summary>
/// Picks the next token: a chain of logits processors followed by one selector, built from
/// <see cref="SamplingOptions"/> by <see cref="Create"/>. The chain mirrors what HF <c>generate</c> builds:
/// repetition penalty (if ≠ 1), then for sampling temperature (if ≠ 1), top-k, top-p (if &lt; 1) and a seeded draw
/// from the softmax; for greedy decoding (temperature 0) the penalty and argmax. After the first step on a vocabulary
/// no call allocates. One instance per sequence; not thread-safe.
/// </summary>
/// <example>
/// The loop: <c>var sampler = Sampler.Create(options);</c> then per step <c>int token = sampler.Sample(logits);
/// sampler.Accept(token);</c> (Accept only for generated tokens, never for the prompt).
/// </example>
internal sealed class Sampler
{
    private readonly ILogitsProcessor[] _processors;
    private readonly ITokenSelector _selector;

    private Sampler(ILogitsProcessor[] processors, ITokenSelector selector)
    {
        _processors = processors;
        _selector = selector;
    }

    /// <summary>The seed of the random draw (the chosen one when the options had none); null for greedy decoding.</summary>
    public long? Seed => (_selector as DistributionSelector)?.Seed;

    /// <summary>The stages before the selector, in order (for tests and diagnostics).</summary>
    internal IReadOnlyList<ILogitsProcessor> Processors => _processors;

    /// <summary>The selector at the end of the chain.</summary>
    internal ITokenSelector Selector => _selector;

    /// <summary>The one mapping from options to a chain.</summary>
    public static Sampler Create(SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var processors = new List<ILogitsProcessor>(4);
        if (options.RepetitionPenalty != 1f) processors.Add(new RepetitionPenaltyProcessor(options.RepetitionPenalty));
        if (options.IsGreedy) return new Sampler([.. processors], GreedySelector.Instance);

        if (options.Temperature != 1f) processors.Add(new TemperatureProcessor(options.Temperature));
        if (options.TopK is { } k) processors.Add(new TopKProcessor(k));
        if (options.TopP is { } p && p < 1f) processors.Add(new TopPProcessor(p));
        long seed = options.Seed ?? Random.Shared.NextInt64(long.MinValue, long.MaxValue);
        return new Sampler([.. processors], new DistributionSelector(seed));
    }

    /// <summary>
    /// Runs the chain on one step's logits (one row, the vocabulary long) and returns the chosen token id. The logits
    /// are modified in place.
    /// </summary>
    public int Sample(Span<float> logits)
    {
        if (logits.IsEmpty) throw new ArgumentException("no logits", nameof(logits));
        foreach (var processor in _processors) processor.Apply(logits);
        return _selector.Select(logits);
    }

    /// <summary>Records a generated token (for the repetition penalty). Call it for each generated token, not the prompt.</summary>
    public void Accept(int token)
    {
        foreach (var processor in _processors) processor.Accept(token);
    }

    /// <summary>Forgets the generated tokens and restarts the random sequence from the seed.</summary>
    public void Reset()
    {
        foreach (var processor in _processors) processor.Reset();
        _selector.Reset();
    }
}
