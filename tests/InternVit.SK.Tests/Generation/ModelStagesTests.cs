using System.Text.Json;
using InternVit.SK.Checkpoints;
using InternVit.SK.Export;
using InternVit.SK.Generation;
using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Tiling;
using InternVit.SK.Tests.Export;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Generation;

/// <summary>
/// The model's stages through its public API — <see cref="InternVLModel.EncodeImageAsync"/>, <see cref="InternVLModel.GetLogitsAsync"/>
/// and <see cref="InternVLModelOptions.ProfilingPrefix"/> — held to the same goldens as the graphs themselves
/// (<see cref="ConvertedModelGoldenTests"/>).
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ModelStagesTests(ConvertedTinyModel tiny, ITestOutputHelper output)
{
    private InternVLModel Model => tiny.Model;

    [Theory]
    [InlineData("exact_448x448.png", "exact_448x448", 1, 1, false)]
    [InlineData("table_1600x900.png", "table_1600x900", 4, 2, true)]
    [InlineData("photo_webp_800x450.webp", "photo_webp_800x450", 2, 1, true)]
    public async Task EncodeImageAsync_gives_the_official_encoder_and_projector_features(string file, string golden, int columns, int rows, bool thumbnail)
    {
        var features = await Model.EncodeImageAsync(ImageInput.FromFile(Path.Combine(TestPaths.Fixtures, "images", file)), maxTiles: 12);

        Assert.Equal(new TileGrid(columns, rows, thumbnail), features.Grid);
        using var expected = Goldens.Open(Goldens.ModelA($"vision_{golden}.safetensors"));
        var shape = expected.GetInfo("vit_embeds").Shape;
        Assert.Equal([features.Grid.TileCount, features.TokensPerTile, features.HiddenSize], shape);
        Assert.Equal(features.Grid.TileCount * 256, features.TokenCount);
        double diff = Goldens.MaxAbsDiff(features.Values.Span, expected.ReadFloat32("vit_embeds"));
        output.WriteLine($"{file}: EncodeImageAsync vs vit_embeds max |diff| = {diff:E2}");
        Assert.InRange(diff, 0, 1e-4);
    }

    [Fact]
    public async Task EncodeImageAsync_takes_the_image_limit_before_the_call_limit()
    {
        string table = Path.Combine(TestPaths.Fixtures, "images", "table_1600x900.png");
        Assert.Equal(1, (await Model.EncodeImageAsync(ImageInput.FromFile(table, maxTiles: 1), maxTiles: 12)).Grid.TileCount);
        Assert.Equal(3, (await Model.EncodeImageAsync(ImageInput.FromFile(table), maxTiles: 2)).Grid.TileCount);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Model.EncodeImageAsync(ImageInput.FromFile(table), maxTiles: 0));
        await Assert.ThrowsAsync<ImageDecodeException>(() => Model.EncodeImageAsync(ImageInput.FromBytes(new byte[] { 1, 2, 3 })));
    }

    [Fact]
    public async Task GetLogitsAsync_gives_the_reference_logits_of_every_position()
    {
        using var golden = Goldens.Open(Goldens.ModelA("llm_raw_text.safetensors"));
        int[] ids = Array.ConvertAll(golden.ReadInt64("input_ids"), x => (int)x);
        float[] expected = golden.ReadFloat32("logits");

        float[] logits = await Model.GetLogitsAsync(ids);
        Assert.Equal(ids.Length * Model.Manifest.Decoder.VocabSize, logits.Length);
        double diff = Goldens.MaxAbsDiff(logits, expected);
        output.WriteLine($"raw_text ({ids.Length} positions): GetLogitsAsync max |diff| = {diff:E2}");
        Assert.InRange(diff, 0, 1e-3);

        // The last two positions only: the same rows.
        int vocab = Model.Manifest.Decoder.VocabSize;
        float[] lastTwo = await Model.GetLogitsAsync(ids, logitsToKeep: 2);
        Assert.InRange(Goldens.MaxAbsDiff(lastTwo, expected.AsSpan((ids.Length - 2) * vocab)), 0, 1e-3);
    }

    [Fact]
    public async Task GetLogitsAsync_of_the_last_position_gives_the_reference_next_token_logits()
    {
        using var golden = Goldens.Open(Goldens.ModelA("llm_text_only.safetensors"));
        int[] prompt = Array.ConvertAll(golden.ReadInt64("input_ids"), x => (int)x);
        float[] logits = await Model.GetLogitsAsync(prompt, logitsToKeep: 1);
        Assert.InRange(Goldens.MaxAbsDiff(logits, golden.ReadFloat32("last_logits")), 0, 1e-3);
    }

    [Fact]
    public async Task GetLogitsAsync_refuses_what_it_cannot_run()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Model.GetLogitsAsync([]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Model.GetLogitsAsync([1, 2], logitsToKeep: 3));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Model.GetLogitsAsync([1, Model.Manifest.Decoder.VocabSize]));
        var tooLong = await Assert.ThrowsAsync<ContextWindowExceededException>(() => Model.GetLogitsAsync(new int[Model.ContextWindow + 1]));
        Assert.Equal(Model.ContextWindow + 1, tooLong.PromptTokens);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Model.GetLogitsAsync([1, 2, 3], cancellationToken: new CancellationToken(canceled: true)));
    }

    [Fact]
    public async Task A_profiling_prefix_gives_one_trace_per_graph_when_the_model_is_disposed()
    {
        using var dir = new TempDir();
        string prefix = dir.File("run");
        using (var model = await InternVLModel.LoadAsync(tiny.Directory, new InternVLModelOptions { ProfilingPrefix = prefix }))
        {
            await model.EncodeImageAsync(ImageInput.FromFile(Path.Combine(TestPaths.Fixtures, "images", "exact_448x448.png")));
            await model.GetLogitsAsync([1, 2, 3], logitsToKeep: 1);
        }
        foreach (string graph in (string[])["vision", "decoder"])
        {
            string trace = Assert.Single(Directory.GetFiles(dir.Path, $"run-{graph}_*.json"));
            using var json = JsonDocument.Parse(File.ReadAllBytes(trace));
            Assert.Contains(json.RootElement.EnumerateArray(), e => e.TryGetProperty("cat", out var cat) && cat.GetString() == "Node");
        }
        Assert.Equal(2, Directory.GetFiles(dir.Path).Length);
    }

    [Fact]
    public void ExpectedTensors_lists_exactly_the_tensors_of_a_convertible_checkpoint()
    {
        var expected = ModelConverter.ExpectedTensors(TestPaths.TinyCheckpoint);
        using var checkpoint = SafetensorsCheckpoint.Open(TestPaths.TinyCheckpoint);
        Assert.Equal(checkpoint.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), expected.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (var (name, shape) in expected) Assert.Equal(shape, checkpoint.GetInfo(name).Shape);
        Assert.StartsWith("vision_model.", expected[0].Name, StringComparison.Ordinal);
    }
}
