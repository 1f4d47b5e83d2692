using InternVit.SK.Generation.Sampling;

namespace InternVit.SK.Tests.Generation.Sampling;

/// <summary>Validation and defaults of <see cref="SamplingOptions"/>.</summary>
public class SamplingOptionsTests
{
    public static TheoryData<string, Func<SamplingOptions>> Invalid() => new()
    {
        { nameof(SamplingOptions.Temperature), () => new SamplingOptions { Temperature = -0.1f } },
        { nameof(SamplingOptions.Temperature), () => new SamplingOptions { Temperature = float.NaN } },
        { nameof(SamplingOptions.Temperature), () => new SamplingOptions { Temperature = float.PositiveInfinity } },
        { nameof(SamplingOptions.TopK), () => new SamplingOptions { TopK = 0 } },
        { nameof(SamplingOptions.TopK), () => new SamplingOptions { TopK = -3 } },
        { nameof(SamplingOptions.TopP), () => new SamplingOptions { TopP = 0f } },
        { nameof(SamplingOptions.TopP), () => new SamplingOptions { TopP = 1.0001f } },
        { nameof(SamplingOptions.TopP), () => new SamplingOptions { TopP = float.NaN } },
        { nameof(SamplingOptions.RepetitionPenalty), () => new SamplingOptions { RepetitionPenalty = 0f } },
        { nameof(SamplingOptions.RepetitionPenalty), () => new SamplingOptions { RepetitionPenalty = -1.2f } },
        { nameof(SamplingOptions.RepetitionPenalty), () => SamplingOptions.Greedy with { RepetitionPenalty = float.NaN } },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Out_of_range_values_name_the_option(string option, Func<SamplingOptions> create)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(create);
        Assert.Equal(option, error.ParamName);
    }

    [Fact]
    public void Boundary_values_are_accepted()
    {
        var options = new SamplingOptions { Temperature = 0f, TopK = 1, TopP = 1f, RepetitionPenalty = 0.01f, Seed = -5 };
        Assert.Equal(1, options.TopK);
        Assert.Equal(1f, options.TopP);
        Assert.Equal(0.01f, options.RepetitionPenalty);
        Assert.Equal(-5L, options.Seed);
    }

    [Fact]
    public void Greedy_is_the_default()
    {
        var greedy = SamplingOptions.Greedy;
        Assert.Equal(0f, greedy.Temperature);
        Assert.Null(greedy.TopK);
        Assert.Null(greedy.TopP);
        Assert.Equal(1f, greedy.RepetitionPenalty);
        Assert.Null(greedy.Seed);
        Assert.True(greedy.IsGreedy);
        Assert.Equal(greedy, new SamplingOptions());
        Assert.False((greedy with { Temperature = 0.7f }).IsGreedy);
    }
}
