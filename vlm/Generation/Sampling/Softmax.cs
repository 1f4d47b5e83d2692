namespace InternVit.SK.Generation.Sampling;

/// <summary>The softmax pieces, shared by top-p and the distribution selector.</summary>
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

    /// <summary>
    /// Writes exp(x − <paramref name="max"/>) of each logit to <paramref name="weights"/> (0 for a filtered −∞; the two
    /// spans may be the same) and returns their sum in double, with the number of unfiltered logits.
    /// </summary>
    public static double ExpWeights(ReadOnlySpan<float> logits, Span<float> weights, float max, out int unfiltered)
    {
        double sum = 0;
        unfiltered = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            if (x == float.NegativeInfinity)
            {
                weights[i] = 0;
                continue;
            }
            float weight = MathF.Exp(x - max);
            weights[i] = weight;
            sum += weight;
            unfiltered++;
        }
        return sum;
    }
}
