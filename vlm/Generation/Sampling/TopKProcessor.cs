using System.Numerics;

namespace InternVit.SK.Generation.Sampling;

/// <summary>
/// HF <c>TopKLogitsWarper</c>: every logit below the k-th largest becomes negative infinity, so ties with the k-th
/// value are all kept (<c>scores &lt; topk(scores, k)[0][..., -1]</c>). The k-th value comes from a partial selection
/// (quickselect) over a copy of the logits, linear on average.
/// </summary>
internal sealed class TopKProcessor : ILogitsProcessor
{
    private readonly int _k;
    private float[] _scratch = [];

    public TopKProcessor(int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        _k = k;
    }

    public void Apply(Span<float> logits)
    {
        if (_k >= logits.Length) return;
        if (_scratch.Length != logits.Length) _scratch = new float[logits.Length];
        var copy = _scratch.AsSpan();
        logits.CopyTo(copy);
        float kth = SelectAscending(copy, logits.Length - _k);
        for (int i = 0; i < logits.Length; i++)
            if (logits[i] < kth) logits[i] = float.NegativeInfinity;
    }

    public void Accept(int token) { }

    public void Reset() { }

    /// <summary>
    /// The value that would sit at <paramref name="rank"/> if <paramref name="values"/> were sorted ascending
    /// (Hoare partition around a median of three; reorders the span). Falls back to a sort of the remaining range
    /// when partitioning degenerates, so the worst case stays O(n log n).
    /// </summary>
    internal static float SelectAscending(Span<float> values, int rank)
    {
        int lo = 0, hi = values.Length - 1;
        int budget = 2 * (BitOperations.Log2((uint)values.Length) + 1);
        while (hi > lo)
        {
            if (budget-- == 0)
            {
                values[lo..(hi + 1)].Sort();
                return values[rank];
            }
            float pivot = MedianOfThree(values[lo], values[lo + (hi - lo) / 2], values[hi]);
            int i = lo, j = hi;
            while (i <= j)
            {
                while (values[i] < pivot) i++;
                while (values[j] > pivot) j--;
                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }
            // Now [lo..j] ≤ pivot, [i..hi] ≥ pivot, and anything strictly between equals the pivot.
            if (rank <= j) hi = j;
            else if (rank >= i) lo = i;
            else return values[rank];
        }
        return values[rank];
    }

    private static float MedianOfThree(float a, float b, float c) =>
        a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
}
