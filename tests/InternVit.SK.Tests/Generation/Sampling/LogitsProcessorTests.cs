using InternVit.SK.Generation.Sampling;

namespace InternVit.SK.Tests.Generation.Sampling;

/// <summary>
/// Each stage of the chain against values worked out by hand from the HF transformers definitions
/// (src/transformers/generation/logits_process.py).
/// </summary>
public class LogitsProcessorTests
{
    private const float Filtered = float.NegativeInfinity;

    public static TheoryData<float, int[], float[], float[]> Penalties() => new()
    {
        // penalty, accepted tokens (repeats count once), logits, expected: x < 0 ? x * p : x / p for seen tokens.
        { 2f, new[] { 0, 1, 0 }, new[] { 2f, -2f, 0.5f, 3f }, new[] { 1f, -4f, 0.5f, 3f } },
        { 2f, new[] { 2, 3 }, new[] { 2f, -2f, 0f, -0.25f }, new[] { 2f, -2f, 0f, -0.5f } },
        { 0.5f, new[] { 0, 1 }, new[] { 2f, -2f, 0.5f }, new[] { 4f, -1f, 0.5f } },
        { 1.25f, new[] { 3, 9 }, new[] { 1f, 1f, 1f, 5f }, new[] { 1f, 1f, 1f, 4f } }, // 9 is outside this vocabulary
        { 2f, new int[0], new[] { 2f, -2f }, new[] { 2f, -2f } },
    };

    [Theory]
    [MemberData(nameof(Penalties))]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens(float penalty, int[] accepted, float[] logits, float[] expected)
    {
        var processor = new RepetitionPenaltyProcessor(penalty);
        foreach (int token in accepted) processor.Accept(token);
        processor.Apply(logits);
        Assert.Equal(expected, logits);
    }

    [Fact]
    public void Repetition_penalty_forgets_on_reset()
    {
        var processor = new RepetitionPenaltyProcessor(2f);
        processor.Accept(0);
        processor.Reset();
        Assert.Equal(0, processor.DistinctCount);
        float[] logits = [2f, -2f];
        processor.Apply(logits);
        Assert.Equal([2f, -2f], logits);
    }

    [Theory]
    [InlineData(0.5f, new[] { 1f, -2f, 0.5f, Filtered }, new[] { 2f, -4f, 1f, Filtered })]
    [InlineData(2f, new[] { 1f, -2f, 0.5f }, new[] { 0.5f, -1f, 0.25f })]
    [InlineData(4f, new[] { 3f }, new[] { 0.75f })]
    public void Temperature_divides_every_logit(float temperature, float[] logits, float[] expected)
    {
        new TemperatureProcessor(temperature).Apply(logits);
        Assert.Equal(expected, logits);
    }

    [Theory]
    // HF keeps every logit ≥ the k-th largest value, so ties at the k-th value all survive.
    [InlineData(2, new[] { 1f, 3f, 3f, 2f, 3f, 0f }, new[] { Filtered, 3f, 3f, Filtered, 3f, Filtered })]
    [InlineData(3, new[] { 1f, 3f, 3f, 2f, 3f, 0f }, new[] { Filtered, 3f, 3f, Filtered, 3f, Filtered })]
    [InlineData(4, new[] { 1f, 3f, 3f, 2f, 3f, 0f }, new[] { Filtered, 3f, 3f, 2f, 3f, Filtered })]
    [InlineData(1, new[] { -1f, -0.5f, -3f }, new[] { Filtered, -0.5f, Filtered })]
    [InlineData(2, new[] { 5f, 4f, 4f, 4f }, new[] { 5f, 4f, 4f, 4f })]
    [InlineData(3, new[] { 0.1f, 0.3f, 0.2f }, new[] { 0.1f, 0.3f, 0.2f })] // k = vocabulary: nothing to filter
    [InlineData(10, new[] { 0.1f, 0.3f }, new[] { 0.1f, 0.3f })]
    public void Top_k_keeps_logits_at_least_the_kth_largest(int k, float[] logits, float[] expected)
    {
        new TopKProcessor(k).Apply(logits);
        Assert.Equal(expected, logits);
    }

    [Theory]
    [InlineData(1, 1000, 1000)]
    [InlineData(2, 5000, 7)] // heavy duplicates
    [InlineData(3, 4097, 1)] // all equal
    [InlineData(4, 151674, 100000)]
    public void Partial_selection_equals_a_full_sort(int seed, int length, int distinct)
    {
        var random = new Random(seed);
        float[] values = new float[length];
        for (int i = 0; i < length; i++) values[i] = random.Next(distinct) * 0.25f - 7f;
        float[] sorted = (float[])values.Clone();
        Array.Sort(sorted);
        foreach (int rank in new[] { 0, 1, length / 3, length - 50, length - 1 })
            Assert.Equal(sorted[rank], TopKProcessor.SelectAscending((float[])values.Clone(), rank));
    }

    public static TheoryData<float, float[], float[]> TopPCases()
    {
        // Probabilities 0.3, 0.1, 0.4, 0.2 at indices 0..3. Sorted ascending: 0.1 (1), 0.2 (3), 0.3 (0), 0.4 (2);
        // cumulative 0.1, 0.3, 0.6, 1.0. HF filters the tokens whose cumulative sum is ≤ 1 − top_p.
        float[] logits = [MathF.Log(0.3f), MathF.Log(0.1f), MathF.Log(0.4f), MathF.Log(0.2f)];
        float[] Keep(params int[] kept)
        {
            float[] expected = [Filtered, Filtered, Filtered, Filtered];
            foreach (int i in kept) expected[i] = logits[i];
            return expected;
        }
        return new()
        {
            { 0.95f, logits, Keep(0, 1, 2, 3) }, // cut 0.05: nothing ≤ it
            { 0.8f, logits, Keep(0, 2, 3) },     // cut 0.2: drops 0.1
            { 0.5f, logits, Keep(0, 2) },        // cut 0.5: drops 0.1, 0.2 (cumulative 0.3)
            { 0.45f, logits, Keep(0, 2) },       // cut 0.55: cumulative 0.6 is above it, so 0.3 stays
            { 0.3f, logits, Keep(2) },           // cut 0.7: only the 0.4 survives
            { 1e-6f, logits, Keep(2) },          // the most probable token is always kept
            // Four equal logits: 0.25 each, cumulative exactly 0.25, 0.5, 0.75, 1; cut 0.5 drops two. A stable
            // ascending sort orders ties by index, so indices 0 and 1 go.
            { 0.5f, new[] { 0f, 0f, 0f, 0f }, new[] { Filtered, Filtered, 0f, 0f } },
            // Already-filtered tokens weigh nothing.
            { 0.5f, new[] { Filtered, MathF.Log(0.1f), MathF.Log(0.9f) }, new[] { Filtered, Filtered, MathF.Log(0.9f) } },
        };
    }

    [Theory]
    [MemberData(nameof(TopPCases))]
    public void Top_p_filters_the_low_cumulative_tail(float topP, float[] logits, float[] expected)
    {
        float[] copy = (float[])logits.Clone();
        new TopPProcessor(topP).Apply(copy);
        Assert.Equal(expected, copy);
    }

    [Theory]
    [InlineData(11, 151674, 0.9f, 2.0)]
    [InlineData(12, 151674, 0.5f, 4.0)]
    [InlineData(13, 20000, 0.99f, 1.0)]
    [InlineData(14, 20000, 0.999f, 0.2)]
    [InlineData(15, 3000, 0.2f, 8.0)]
    public void Top_p_equals_a_direct_transcription_of_HF_on_large_vocabularies(int seed, int vocab, float topP, double spread)
    {
        var random = new Random(seed);
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i++) logits[i] = (float)(spread * Gaussian(random));
        float[] expected = ReferenceTopP(logits, topP);
        float[] actual = (float[])logits.Clone();
        new TopPProcessor(topP).Apply(actual);
        Assert.Equal(expected, actual);
    }

    /// <summary>
    /// HF <c>TopPLogitsWarper.__call__</c> written out plainly: stable ascending sort, softmax, running sum, filter
    /// where the running sum ≤ 1 − top_p, keep the last.
    /// </summary>
    private static float[] ReferenceTopP(float[] logits, float topP)
    {
        int[] order = Enumerable.Range(0, logits.Length).OrderBy(i => logits[i]).ToArray(); // OrderBy is stable
        double max = logits.Max();
        double total = logits.Sum(x => Math.Exp(x - max));
        float cut = (float)(1.0 - topP);
        float[] result = (float[])logits.Clone();
        double running = 0;
        for (int j = 0; j < order.Length - 1; j++)
        {
            running += Math.Exp(logits[order[j]] - max) / total;
            if ((float)running <= cut) result[order[j]] = Filtered;
        }
        return result;
    }

    internal static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
