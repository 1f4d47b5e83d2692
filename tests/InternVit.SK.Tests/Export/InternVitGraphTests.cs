using InternVit.SK.Checkpoints;
using InternVit.SK.Export;
using InternVit.SK.Generation;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Export;

/// <summary>
/// Vision graph variants the model_a goldens do not cover (InternViT-6B style rms_norm + qk_normalization, ps_version v1,
/// select_layer), checked against <see cref="InternVitReference"/> on synthetic checkpoints.
/// </summary>
public sealed class InternVitGraphTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("rms_norm", true, "v2", -1, 1)]
    [InlineData("layer_norm", false, "v1", -2, 2)]
    [InlineData("rms_norm", false, "v2", 1, 2)]
    public async Task Vision_graph_matches_the_reference_math(string normType, bool qkNorm, string psVersion, int selectLayer, int layers)
    {
        using var dir = new TempDir();
        var config = SyntheticCheckpoint.BaseConfig();
        var v = config["vision_config"]!.AsObject();
        v["norm_type"] = normType;
        v["qk_normalization"] = qkNorm;
        v["num_hidden_layers"] = layers;
        config["ps_version"] = psVersion;
        config["select_layer"] = selectLayer;
        SyntheticCheckpoint.Write(dir.File("hf"), config);
        await ModelConverter.ConvertAsync(dir.File("hf"), dir.File("out"));

        var random = new Random(3);
        const int tiles = 2;
        var pixels = new float[tiles * 3 * 448 * 448];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(random.NextDouble() * 4 - 2);

        float[] actual;
        using (var model = InternVLModel.Open(dir.File("out")))
            actual = model.Vision.Encode(pixels, tiles);
        using var checkpoint = SafetensorsCheckpoint.Open(dir.File("hf"));
        double[] expected = new InternVitReference(InternVLConfig.Load(dir.File("hf")), checkpoint).Forward(pixels, tiles);

        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - actual[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        output.WriteLine($"{normType} qk_norm={qkNorm} {psVersion} select_layer={selectLayer}: max |diff| {maxDiff:E2}, max |ref| {maxRef:F2}");
        Assert.InRange(maxDiff, 0, 1e-4 * Math.Max(1, maxRef));
    }
}
