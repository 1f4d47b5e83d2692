using InternVit.SK.Generation.Sampling;

namespace InternVit.SK.Tests.Generation.Sampling;

/// <summary>The chain built from options: order, greedy, seeded draws, statistics and allocation.</summary>
public class SamplerTests
{
    private const int QwenVocabulary = 151674;

    [Fact]
    public void The_chain_runs_penalty_temperature_top_k_top_p_then_a_draw()
    {
        var sampler = Sampler.Create(new SamplingOptions { Temperature = 0.7f, TopK = 40, TopP = 0.9f, RepetitionPenalty = 1.1f, Seed = 3 });
        Assert.Equal(
            [typeof(RepetitionPenaltyProcessor), typeof(TemperatureProcessor), typeof(TopKProcessor), typeof(TopPProcessor)],
            sampler.Processors.Select(p => p.GetType()));
        Assert.IsType<DistributionSelector>(sampler.Selector);
        Assert.Equal(3L, sampler.Seed);
    }

    [Fact]
    public void Neutral_values_add_no_stage_as_in_HF()
    {
        var sampler = Sampler.Create(new SamplingOptions { Temperature = 1f, TopP = 1f, RepetitionPenalty = 1f });
        Assert.Empty(sampler.Processors);
        Assert.IsType<DistributionSelector>(sampler.Selector);
        Assert.NotNull(sampler.Seed); // a random one was chosen
    }

    [Fact]
    public void Temperature_zero_is_greedy_and_ignores_top_k_and_top_p_but_keeps_the_penalty()
    {
        var sampler = Sampler.Create(new SamplingOptions { TopK = 1, TopP = 0.1f, RepetitionPenalty = 1.3f, Seed = 9 });
        Assert.Equal([typeof(RepetitionPenaltyProcessor)], sampler.Processors.Select(p => p.GetType()));
        Assert.IsType<GreedySelector>(sampler.Selector);
        Assert.Null(sampler.Seed);
    }

    [Theory]
    [InlineData(new[] { 1f, 3f, 3f, 2f }, 1)] // first index on ties, as torch.argmax
    [InlineData(new[] { float.NegativeInfinity, -1f, -1f }, 1)]
    [InlineData(new[] { -7f }, 0)]
    [InlineData(new[] { 0.5f, 0.25f, 0.75f, 0.7499f }, 2)]
    public void Greedy_is_argmax_with_the_first_index_on_ties(float[] logits, int expected)
    {
        Assert.Equal(expected, Sampler.Create(SamplingOptions.Greedy).Sample(logits));
    }

    [Fact]
    public void Penalty_applies_to_accepted_tokens_only_and_reset_forgets_them()
    {
        var sampler = Sampler.Create(new SamplingOptions { RepetitionPenalty = 2f });
        Assert.Equal(0, sampler.Sample(new[] { 2f, 1.5f }));
        sampler.Accept(0);
        Assert.Equal(1, sampler.Sample(new[] { 2f, 1.5f })); // 2 / 2 = 1 < 1.5
        sampler.Reset();
        Assert.Equal(0, sampler.Sample(new[] { 2f, 1.5f }));
    }

    [Fact]
    public void The_same_seed_gives_the_same_sequence_and_reset_replays_it()
    {
        var options = new SamplingOptions { Temperature = 1.2f, TopK = 20, TopP = 0.95f, RepetitionPenalty = 1.05f, Seed = 42 };
        int[] first = Generate(Sampler.Create(options), 50);
        int[] second = Generate(Sampler.Create(options), 50);
        Assert.Equal(first, second);

        var sampler = Sampler.Create(options);
        Assert.Equal(first, Generate(sampler, 50));
        sampler.Reset();
        Assert.Equal(first, Generate(sampler, 50));

        int[] other = Generate(Sampler.Create(options with { Seed = 43 }), 50);
        Assert.NotEqual(first, other);
        Assert.True(first.Zip(other).Count(p => p.First != p.Second) > 10, "different seeds should differ in many of 50 draws over ~20 candidates");
    }

    /// <summary>50 steps over fixed pseudo-random logits (different per step), accepting each token.</summary>
    private static int[] Generate(Sampler sampler, int steps)
    {
        var random = new Random(7);
        int[] tokens = new int[steps];
        float[] logits = new float[500];
        for (int step = 0; step < steps; step++)
        {
            for (int i = 0; i < logits.Length; i++) logits[i] = (float)LogitsProcessorTests.Gaussian(random);
            tokens[step] = sampler.Sample(logits);
            sampler.Accept(tokens[step]);
        }
        return tokens;
    }

    [Theory]
    [InlineData(1f, 101)]
    [InlineData(2f, 202)]
    [InlineData(0.5f, 303)]
    public void Draws_follow_the_softmax(float temperature, long seed)
    {
        // Expected probabilities computed independently: softmax(log(p) / T) in double.
        double[] p = [0.1, 0.2, 0.3, 0.4];
        double[] weights = p.Select(x => Math.Exp(Math.Log(x) / temperature)).ToArray();
        double[] expected = weights.Select(w => w / weights.Sum()).ToArray();

        const int Draws = 20000;
        var sampler = Sampler.Create(new SamplingOptions { Temperature = temperature, Seed = seed });
        int[] counts = new int[4];
        float[] logits = new float[4];
        for (int n = 0; n < Draws; n++)
        {
            for (int i = 0; i < 4; i++) logits[i] = MathF.Log((float)p[i]);
            counts[sampler.Sample(logits)]++;
        }

        // Pearson chi-square with 3 degrees of freedom: 16.27 is the 0.999 quantile. And each frequency within 0.015
        // of its probability (at most ~4.3 standard deviations of sqrt(0.25 / 20000) = 0.0035).
        double chiSquare = 0;
        for (int i = 0; i < 4; i++)
        {
            double e = expected[i] * Draws;
            chiSquare += (counts[i] - e) * (counts[i] - e) / e;
            Assert.InRange(counts[i] / (double)Draws, expected[i] - 0.015, expected[i] + 0.015);
        }
        Assert.True(chiSquare < 16.27, $"chi-square {chiSquare:F2} over counts {string.Join(",", counts)}");
    }

    [Theory]
    [InlineData(0.7f, 1, null)]
    [InlineData(1.5f, 1, null)]
    [InlineData(0.7f, null, 1e-6f)]
    [InlineData(3f, null, 1e-4f)]
    [InlineData(1f, 50, 1e-6f)]
    public void Top_k_one_or_a_tiny_top_p_is_greedy(float temperature, int? topK, float? topP)
    {
        var random = new Random(5);
        var sampler = Sampler.Create(new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP, Seed = 17 });
        float[] logits = new float[2000];
        for (int step = 0; step < 30; step++)
        {
            for (int i = 0; i < logits.Length; i++) logits[i] = (float)(3 * LogitsProcessorTests.Gaussian(random));
            int argmax = Array.IndexOf(logits, logits.Max());
            Assert.Equal(argmax, sampler.Sample(logits));
        }
    }

    [Theory]
    [InlineData(50, 0.9f)]
    [InlineData(null, 0.9f)]
    [InlineData(1000, null)]
    public void Sampling_allocates_nothing_per_token(int? topK, float? topP)
    {
        var random = new Random(1);
        float[] source = new float[QwenVocabulary];
        for (int i = 0; i < source.Length; i++) source[i] = (float)(2.5 * LogitsProcessorTests.Gaussian(random));
        float[] logits = new float[QwenVocabulary];
        var sampler = Sampler.Create(new SamplingOptions { Temperature = 0.8f, TopK = topK, TopP = topP, RepetitionPenalty = 1.1f, Seed = 1 });
        Step(); // first use sizes the scratch buffers
        Step();

        // A collection during the count (other tests allocate in parallel) can move this thread's count by up to its
        // allocation quantum (seen once in CI: 8056 bytes); only a count no collection crossed is read.
        for (int attempt = 0; attempt < 50; attempt++)
        {
            int collections = GC.CollectionCount(0);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int n = 0; n < 100; n++) Step();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (GC.CollectionCount(0) != collections) continue;
            Assert.Equal(0, allocated);
            return;
        }
        Assert.Fail("every count of 100 steps was crossed by a collection");

        void Step()
        {
            source.CopyTo(logits, 0);
            sampler.Accept(sampler.Sample(logits));
        }
    }
}
