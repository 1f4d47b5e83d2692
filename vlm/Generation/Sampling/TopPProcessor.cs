namespace InternVit.SK.Generation.Sampling;

/// <summary>
/// HF <c>TopPLogitsWarper</c> (min_tokens_to_keep = 1): sort the logits ascending, take the running sum of their
/// softmax probabilities, and filter every token whose running sum is ≤ 1 − top_p, always keeping the most
/// probable one. Mirrored details: the cut 1 − top_p is compared in float32; probabilities are float32 and the running
/// sum is accumulated in double and rounded to float32 at each step (torch's CPU <c>cumsum</c>); equal logits are
/// ordered by index as a stable ascending sort would, so at a tie the lower index is filtered first.
/// </summary>
/// <remarks>
/// Only tokens near the cut are sorted. A histogram of the probability mass over (max − logit) in buckets of 1/16
/// nat finds the least probable buckets that together weigh less than the cut: being the lowest logits they are the
/// start of HF's ascending order, and every running sum over them stays below the cut, so they are filtered unsorted
/// with the same result as a full sort. Already-filtered tokens (−∞, e.g. after top-k) weigh nothing and are skipped.
/// </remarks>
internal sealed class TopPProcessor : ILogitsProcessor
{
    private const int BucketsPerNat = 16;
    private const int Buckets = BucketsPerNat * 64; // the last bucket also takes everything lower
    private readonly float _cut;
    private readonly double[] _bucketMass = new double[Buckets];
    private float[] _weights = [];
    private long[] _keys = [];

    public TopPProcessor(float topP)
    {
        if (!(topP > 0 && topP <= 1)) throw new ArgumentOutOfRangeException(nameof(topP), topP, "must be in (0, 1]");
        _cut = (float)(1.0 - topP);
    }

    public void Apply(Span<float> logits)
    {
        if (_cut <= 0) return;
        float max = Softmax.Max(logits);
        if (max == float.NegativeInfinity) return;
        if (_weights.Length != logits.Length)
        {
            _weights = new float[logits.Length];
            _keys = new long[logits.Length];
        }
        double sum = Softmax.ExpWeights(logits, _weights, max, out _);

        // The buckets from the bottom up to firstUnsorted weigh less than the cut (with a margin, so that rounding in
        // the exact sums below cannot matter): they are filtered without sorting.
        Array.Clear(_bucketMass);
        for (int i = 0; i < logits.Length; i++)
            if (logits[i] != float.NegativeInfinity) _bucketMass[Bucket(logits[i], max)] += _weights[i];
        double limit = _cut * sum * (1 - 1e-6), unsortedMass = 0;
        int firstUnsorted = Buckets;
        while (firstUnsorted > 0 && unsortedMass + _bucketMass[firstUnsorted - 1] <= limit)
            unsortedMass += _bucketMass[--firstUnsorted];

        double running = 0;
        int count = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            if (x == float.NegativeInfinity) continue;
            if (Bucket(x, max) >= firstUnsorted)
            {
                running += Probability(i, sum);
                logits[i] = float.NegativeInfinity;
            }
            else _keys[count++] = SortKey(x, i);
        }

        var keys = _keys.AsSpan(0, count);
        keys.Sort();
        for (int j = 0; j < count - 1; j++) // the last (most probable) one is always kept
        {
            int index = (int)(uint)keys[j];
            running += Probability(index, sum);
            if ((float)running > _cut) break;
            logits[index] = float.NegativeInfinity;
        }
    }

    public void Accept(int token) { }

    public void Reset() { }

    private float Probability(int index, double sum) => (float)(_weights[index] / sum);

    /// <summary>Histogram bucket of a logit: never decreases as the logit decreases, so equal logits share one.</summary>
    private static int Bucket(float logit, float max) => (int)MathF.Min((max - logit) * BucketsPerNat, Buckets - 1);

    /// <summary>A key whose signed order is (logit ascending, index ascending); the index sits in the low 32 bits.</summary>
    private static long SortKey(float logit, int index)
    {
        int bits = BitConverter.SingleToInt32Bits(logit);
        int ordered = bits >= 0 ? bits : bits ^ int.MaxValue;
        return ((long)ordered << 32) | (uint)index;
    }
}
