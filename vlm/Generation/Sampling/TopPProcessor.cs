namespace InternVit.SK.Generation.Sampling;

/// <summary>
/// HF <c>TopPLogitsWarper</c> (min_tokens_to_keep = 1): sort the logits ascending, take the running sum of their
/// softmax probabilities, and filter every token whose running sum is ≤ 1 − top_p, always keeping the most
/// probable one. Mirrored details: the cut 1 − top_p is compared in float32 and the running sum is accumulated in
/// double and rounded to float32 at each step (torch's CPU <c>cumsum</c>); equal logits are ordered by index as a
/// stable ascending sort would, so at a tie the lower index is filtered first.
/// </summary>
/// <remarks>
/// Only tokens that can matter are sorted: already-filtered tokens (−∞, e.g. after top-k) are skipped, and tokens so
/// improbable that all of them together weigh at most half the cut (probability ≤ cut / (2·n)) are filtered without
/// sorting; they form the start of the ascending order and every running sum over them stays below the cut, so the
/// result is the same as a full sort.
/// </remarks>
internal sealed class TopPProcessor : ILogitsProcessor
{
    private readonly float _cut;
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
        double sum = Softmax.SumExp(logits, max);
        if (_keys.Length != logits.Length) _keys = new long[logits.Length];

        // Logits at or below this are certainly filtered: n of them weigh at most cut / 2.
        float certain = max + (float)Math.Log(_cut * 0.5 * sum / logits.Length);
        double below = 0;
        int count = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            if (x == float.NegativeInfinity) continue;
            if (x <= certain)
            {
                below += Probability(x, max, sum);
                logits[i] = float.NegativeInfinity;
                continue;
            }
            _keys[count++] = SortKey(x, i);
        }

        var keys = _keys.AsSpan(0, count);
        keys.Sort();
        double running = below;
        for (int j = 0; j < count - 1; j++) // the last (most probable) one is always kept
        {
            int index = (int)(uint)keys[j];
            running += Probability(logits[index], max, sum);
            if ((float)running > _cut) break;
            logits[index] = float.NegativeInfinity;
        }
    }

    public void Accept(int token) { }

    public void Reset() { }

    private static float Probability(float logit, float max, double sum) => (float)(MathF.Exp(logit - max) / sum);

    /// <summary>A key whose signed order is (logit ascending, index ascending); the index sits in the low 32 bits.</summary>
    private static long SortKey(float logit, int index)
    {
        int bits = BitConverter.SingleToInt32Bits(logit);
        int ordered = bits >= 0 ? bits : bits ^ int.MaxValue;
        return ((long)ordered << 32) | (uint)index;
    }
}
