namespace InternVit.SK.Generation.Sampling;

/// <summary>The two reductions a softmax needs, shared by top-p and the distribution selector.</summary>
internal static class Softmax
{
    /// <summary>The largest logit (negative infinity when all are filtered).</summary>
    public static float Max(ReadOnlySpan<float> logits)
    {
        float max = float.NegativeInfinity;
        foreach (float x in logits)
            if (x > max) max = x;
        return max;
    }

    /// <summary>Σ exp(x − <paramref name="max"/>) in double; filtered logits (−∞) add 0.</summary>
    public static double SumExp(ReadOnlySpan<float> logits, float max)
    {
        double sum = 0;
        foreach (float x in logits)
            if (x != float.NegativeInfinity) sum += MathF.Exp(x - max);
        return sum;
    }
}
