using InternVit.SK.Export;
using InternVit.SK.Generation;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Export;

/// <summary>The tiny checkpoint converted at one reduced precision (fp16 storage or quantized).</summary>
public abstract class QuantizedTinyModel : IDisposable
{
    private readonly TempDir _dir = new();

    protected QuantizedTinyModel(string precision)
    {
        Precision = precision;
        ModelConverter.ConvertAsync(TestPaths.TinyCheckpoint, Path.Combine(_dir.Path, "model"), new ConversionOptions { Precision = precision }).GetAwaiter().GetResult();
        Model = InternVLModel.Open(Path.Combine(_dir.Path, "model"));
    }

    public string Precision { get; }

    internal InternVLModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Dispose();
    }
}

public sealed class Fp16TinyModel() : QuantizedTinyModel("fp16");

public sealed class Int8TinyModel() : QuantizedTinyModel("int8");

public sealed class Int4TinyModel() : QuantizedTinyModel("int4");

/// <summary>
/// Quantized precisions against the fp32 goldens of model_a. The tiny checkpoint has random weights, so its logits
/// are far flatter than a trained model's (top-1 margins of a few hundredths), which makes greedy agreement a harsher
/// test than on a real model; image features are compared by cosine similarity per tile. Precisions meant to be
/// near-exact also bound the max |diff| of the image features and of the raw-text logits.
/// </summary>
public abstract class QuantizedModelTests(QuantizedTinyModel quantized, ITestOutputHelper output, double minCosine, double minAgreement,
    double maxFeatureDiff = double.PositiveInfinity, double maxLogitDiff = double.PositiveInfinity)
{
    private InternVLModel Model => quantized.Model;

    [Theory]
    [InlineData("exact_448x448")]
    [InlineData("table_1600x900")]
    public void Image_features_stay_close_to_fp32(string image)
    {
        var (pixelValues, tiles) = Goldens.PixelValuesFromTiles(image);
        float[] features = Model.Vision.Encode(pixelValues, tiles);
        using var golden = Goldens.Open(Goldens.ModelA($"vision_{image}.safetensors"));
        float[] expected = golden.ReadFloat32("vit_embeds");
        int perTile = Model.Vision.FeaturesPerTile;
        double worst = 1;
        for (int t = 0; t < tiles; t++) worst = Math.Min(worst, Cosine(features.AsSpan(t * perTile, perTile), expected.AsSpan(t * perTile, perTile)));
        double diff = Goldens.MaxAbsDiff(features, expected);
        output.WriteLine($"{quantized.Precision} {image}: worst per-tile cosine similarity {worst:F5}, max |diff| {diff:E2}");
        Assert.InRange(worst, minCosine, 1.0001);
        Assert.InRange(diff, 0, maxFeatureDiff);
    }

    [Fact]
    public void Greedy_next_tokens_agree_with_fp32_over_the_golden_prompts()
    {
        int agree = 0, total = 0;
        double logitDiff;
        void Count(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
        {
            int vocab = Model.Language.VocabSize;
            for (int p = 0; p < actual.Length / vocab; p++, total++)
                if (ArgMax(actual.Slice(p * vocab, vocab)) == ArgMax(expected.Slice(p * vocab, vocab))) agree++;
        }

        using (var golden = Goldens.Open(Goldens.ModelA("llm_raw_text.safetensors")))
        {
            int[] ids = Array.ConvertAll(golden.ReadInt64("input_ids"), x => (int)x);
            using var cache = Model.Language.CreateCache(64);
            float[] logits = Model.Language.Forward(Embed(ids), cache, logitsToKeep: 0), expected = golden.ReadFloat32("logits");
            Count(logits, expected);
            logitDiff = Goldens.MaxAbsDiff(logits, expected);
        }
        using (var golden = Goldens.Open(Goldens.ModelA("llm_text_only.safetensors")))
        {
            // Teacher-forced along the reference's greedy continuation: every step's next token is one position.
            int[] prompt = Array.ConvertAll(golden.ReadInt64("input_ids"), x => (int)x);
            long[] generated = golden.ReadInt64("generated_ids");
            using var cache = Model.Language.CreateCache(256);
            float[] logits = Model.Language.Forward(Embed(prompt), cache);
            Count(logits, golden.ReadFloat32("last_logits"));
            for (int step = 0; step + 1 < generated.Length; step++)
            {
                logits = Model.Language.Forward(Embed([(int)generated[step]]), cache);
                if (ArgMax(logits) == generated[step + 1]) agree++;
                total++;
            }
        }
        using (var golden = Goldens.Open(Goldens.ModelA("llm_two_images.safetensors")))
        {
            float[] embeds = golden.ReadFloat32("inputs_embeds");
            using var cache = Model.Language.CreateCache(2048);
            Count(Model.Language.Forward(embeds, cache), golden.ReadFloat32("last_logits"));
        }
        double agreement = (double)agree / total;
        output.WriteLine($"{quantized.Precision}: greedy next token agrees with fp32 at {agree}/{total} positions ({agreement:P1}); raw-text logits max |diff| {logitDiff:E2}");
        Assert.InRange(agreement, minAgreement, 1);
        Assert.InRange(logitDiff, 0, maxLogitDiff);
    }

    private float[] Embed(ReadOnlySpan<int> ids)
    {
        var rows = new float[ids.Length * Model.Embeddings.HiddenSize];
        Model.Embeddings.Lookup(ids, rows);
        return rows;
    }

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}

public sealed class Int8ModelTests(Int8TinyModel model, ITestOutputHelper output)
    : QuantizedModelTests(model, output, minCosine: 0.99, minAgreement: 0.95), IClassFixture<Int8TinyModel>;

public sealed class Int4ModelTests(Int4TinyModel model, ITestOutputHelper output)
    : QuantizedModelTests(model, output, minCosine: 0.99, minAgreement: 0.6), IClassFixture<Int4TinyModel>;

/// <summary>
/// fp16 storage: Linear weights in float16, cast to float32 in the graph. The tiny checkpoint is bf16 (8 significant
/// bits), which float16 (11) holds exactly for magnitudes in float16's normal range [6.1e-5, 65504]; smaller weights
/// become subnormals (absolute error ≤ 2⁻²⁵ ≈ 3e-8) or zero, larger ones are refused by the converter. So the graphs
/// compute almost exactly the fp32 function: the fp32 bounds of <see cref="ConvertedModelGoldenTests"/> (vision 1e-4,
/// logits 1e-3) and full greedy agreement must hold (measured: the same max |diff| as fp32, 2.4e-6 and 3.8e-5).
/// </summary>
public sealed class Fp16ModelTests(Fp16TinyModel model, ITestOutputHelper output)
    : QuantizedModelTests(model, output, minCosine: 0.99999, minAgreement: 1, maxFeatureDiff: 1e-4, maxLogitDiff: 1e-3), IClassFixture<Fp16TinyModel>;
