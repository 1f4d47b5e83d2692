namespace InternVit.SK.Generation.Sampling;

/// <summary>Greedy decoding: the index of the largest logit, the first one on ties (as <c>torch.argmax</c>).</summary>
internal sealed class GreedySelector : ITokenSelector
{
    public static GreedySelector Instance { get; } = new();

    public int Select(Span<float> logits) => ArgMax(logits);

    public void Reset() { }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
}

/// <summary>
/// Draws a token from the softmax of the logits (HF's <c>multinomial(softmax(scores), 1)</c>) with its own seeded
/// <see cref="Xoshiro256"/>: one uniform draw per token, walked along the cumulative probabilities in index order.
/// <see cref="Reset"/> restarts the random sequence from the seed.
/// </summary>
internal sealed class DistributionSelector : ITokenSelector
{
    private Xoshiro256 _rng;

    public DistributionSelector(long seed)
    {
        Seed = seed;
        _rng = new Xoshiro256(seed);
    }

    /// <summary>The seed of the random sequence.</summary>
    public long Seed { get; }

    /// <summary>Overwrites <paramref name="logits"/> with exp(x − max) and picks an index with that weight.</summary>
    public int Select(Span<float> logits)
    {
        float max = Softmax.Max(logits);
        if (max == float.NegativeInfinity) throw new InvalidOperationException("every token was filtered out");
        double sum = Softmax.ExpWeights(logits, logits, max, out _);
        double target = _rng.NextDouble() * sum;
        double running = 0;
        int last = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            if (logits[i] == 0) continue;
            running += logits[i];
            if (running > target) return i;
            last = i;
        }
        return last; // rounding left the target at the very end: the last token with weight
    }

    public void Reset() => _rng = new Xoshiro256(Seed);
}
