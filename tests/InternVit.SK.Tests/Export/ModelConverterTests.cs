using InternVit.SK.ModelFolder;
using System.Text.Json.Nodes;
using InternVit.SK.Checkpoints;
using InternVit.SK.Export;
using InternVit.SK.Generation;

namespace InternVit.SK.Tests.Export;

/// <summary>What the converter refuses, how it treats existing folders, and properties of the graphs it builds.</summary>
public sealed class ModelConverterTests
{
    private static ConversionResult Convert(string source, string output, bool force = false, CancellationToken cancellationToken = default) =>
        ModelConverter.ConvertAsync(source, output, new ConversionOptions { Force = force }, null, cancellationToken).GetAwaiter().GetResult();

    /// <summary>Converting a broken checkpoint throws a CheckpointException whose message names the problem, and writes nothing.</summary>
    private static void AssertRefused(JsonObject config, Func<List<ExpectedTensor>, List<ExpectedTensor>>? editTensors, params string[] messageParts)
    {
        using var dir = new TempDir();
        string source = dir.File("hf"), output = dir.File("out");
        SyntheticCheckpoint.Write(source, config, editTensors);
        var e = Assert.Throws<CheckpointException>(() => Convert(source, output));
        foreach (string part in messageParts) Assert.Contains(part, e.Message);
        Assert.False(Directory.Exists(output));
        Assert.Equal(["hf"], Directory.EnumerateFileSystemEntries(dir.Path).Select(p => Path.GetFileName(p)!).ToArray());
    }

    [Fact]
    public void A_missing_tensor_is_named()
    {
        const string name = "vision_model.encoder.layers.0.attn.proj.bias";
        AssertRefused(SyntheticCheckpoint.BaseConfig(), t => t.Where(x => x.Name != name).ToList(), "missing tensor", name);
    }

    [Fact]
    public void A_tensor_of_the_wrong_shape_is_named_with_both_shapes()
    {
        const string name = "language_model.model.layers.0.self_attn.k_proj.weight";
        AssertRefused(SyntheticCheckpoint.BaseConfig(), t => t.Select(x => x.Name == name ? x with { Shape = [16, 16] } : x).ToList(), name, "[16,16]", "[8,16]");
    }

    [Fact]
    public void An_unexpected_tensor_is_named()
    {
        AssertRefused(SyntheticCheckpoint.BaseConfig(), t => [.. t, new ExpectedTensor("language_model.model.layers.0.self_attn.rotary_emb.inv_freq", [4])],
            "unexpected tensor", "rotary_emb.inv_freq");
    }

    [Theory]
    [InlineData("InternLM2ForCausalLM")]
    [InlineData("LlamaForCausalLM")]
    [InlineData("Phi3ForCausalLM")]
    public void An_llm_family_not_built_yet_is_refused_by_field(string architecture)
    {
        var config = SyntheticCheckpoint.BaseConfig();
        config["llm_config"]!["architectures"] = new JsonArray(architecture);
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(dir.File("hf")).FullName, "config.json"), config.ToJsonString());
        var e = Assert.Throws<CheckpointException>(() => Convert(dir.File("hf"), dir.File("out")));
        Assert.Contains("llm_config.architectures[0]", e.Message);
        Assert.Contains(architecture, e.Message);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Fact]
    public void Rope_scaling_is_refused_rather_than_ignored()
    {
        var config = SyntheticCheckpoint.BaseConfig();
        config["llm_config"]!["rope_scaling"] = new JsonObject { ["type"] = "dynamic", ["factor"] = 2.0 };
        AssertRefused(config, null, "rope_scaling");
    }

    [Fact]
    public void Hugging_face_native_tensors_under_an_original_config_are_refused()
    {
        AssertRefused(SyntheticCheckpoint.BaseConfig(), t => t.Select(x => x.Name.StartsWith("vision_model.", StringComparison.Ordinal)
            ? x with { Name = "model.vision_tower." + x.Name["vision_model.".Length..] } : x).ToList(), "Hugging Face-native", "model.vision_tower.", "mixes two checkpoints");
    }

    [Fact]
    public void An_empty_hugging_face_native_config_is_refused_by_field()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("hf"));
        File.WriteAllText(dir.File("hf/config.json"), """{"architectures":["InternVLForConditionalGeneration"],"text_config":{},"vision_config":{}}""");
        var e = Assert.Throws<CheckpointException>(() => Convert(dir.File("hf"), dir.File("out")));
        Assert.Contains("vision_config needs positive hidden_size", e.Message);
    }

    [Fact]
    public void A_checkpoint_without_tokenizer_files_is_refused()
    {
        using var dir = new TempDir();
        SyntheticCheckpoint.Write(dir.File("hf"), SyntheticCheckpoint.BaseConfig());
        File.Delete(dir.File("hf/vocab.json"));
        var e = Assert.Throws<CheckpointException>(() => Convert(dir.File("hf"), dir.File("out")));
        Assert.Contains("no tokenizer", e.Message);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Fact]
    public void Converting_again_is_a_no_op_unless_forced()
    {
        using var dir = new TempDir();
        SyntheticCheckpoint.Write(dir.File("hf"), SyntheticCheckpoint.BaseConfig());
        var first = Convert(dir.File("hf"), dir.File("out"));
        Assert.True(first.Converted);
        string vision = dir.File("out/vision.onnx");
        var written = File.GetLastWriteTimeUtc(vision);
        File.SetLastWriteTimeUtc(vision, written.AddHours(-1));

        var again = Convert(dir.File("hf"), dir.File("out"));
        Assert.False(again.Converted);
        Assert.Contains("--force", again.Message);
        Assert.Equal(written.AddHours(-1), File.GetLastWriteTimeUtc(vision));
        Assert.Equal(first.Manifest.Source.Sha256, again.Manifest.Source.Sha256);

        var forced = Convert(dir.File("hf"), dir.File("out"), force: true);
        Assert.True(forced.Converted);
        Assert.NotEqual(written.AddHours(-1), File.GetLastWriteTimeUtc(vision));
        Assert.Equal(["hf", "out"], Directory.EnumerateFileSystemEntries(dir.Path).Select(p => Path.GetFileName(p)!).Order().ToArray());
    }

    [Fact]
    public void A_folder_with_other_content_is_never_replaced()
    {
        using var dir = new TempDir();
        SyntheticCheckpoint.Write(dir.File("hf"), SyntheticCheckpoint.BaseConfig());
        Directory.CreateDirectory(dir.File("out"));
        File.WriteAllText(dir.File("out/notes.txt"), "mine");
        var e = Assert.Throws<CheckpointException>(() => Convert(dir.File("hf"), dir.File("out"), force: true));
        Assert.Contains("not a converted model folder", e.Message);
        Assert.Equal("mine", File.ReadAllText(dir.File("out/notes.txt")));
    }

    [Fact]
    public void A_cancelled_conversion_leaves_nothing_behind()
    {
        using var dir = new TempDir();
        SyntheticCheckpoint.Write(dir.File("hf"), SyntheticCheckpoint.BaseConfig());
        using var cts = new CancellationTokenSource();
        var progress = new SynchronousProgress(p => { if (p.Stage == "decoder graph") cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            ModelConverter.ConvertAsync(dir.File("hf"), dir.File("out"), null, progress, cts.Token).GetAwaiter().GetResult());
        Assert.Equal(["hf"], Directory.EnumerateFileSystemEntries(dir.Path).Select(p => Path.GetFileName(p)!).ToArray());
    }

    [Fact]
    public void The_manifest_describes_the_folder()
    {
        using var dir = new TempDir();
        SyntheticCheckpoint.Write(dir.File("hf"), SyntheticCheckpoint.BaseConfig());
        var result = Convert(dir.File("hf"), dir.File("out"));
        var manifest = ModelManifest.Load(dir.File("out"));
        Assert.Equal(result.Manifest.Source.Sha256, manifest.Source.Sha256);
        Assert.Equal("internvl2_5", manifest.Template);
        Assert.Equal((151665, 151666, 151667), (manifest.SpecialTokens.ImageStart, manifest.SpecialTokens.ImageEnd, manifest.SpecialTokens.ImageContext));
        Assert.Equal([151645], manifest.SpecialTokens.Eos);
        Assert.Equal(151643, manifest.SpecialTokens.Pad);
        Assert.Equal((448, 256, 12), (manifest.Image.ImageSize, manifest.Image.TokensPerTile, manifest.Image.MaxTiles));
        Assert.Equal((1, 16, 1, 8), (manifest.Decoder.Layers, manifest.Decoder.HiddenSize, manifest.Decoder.KeyValueHeads, manifest.Decoder.HeadDim));
        Assert.Equal("BF16", manifest.Embeddings.Dtype);
        Assert.Equal([151674, 16], manifest.Embeddings.Shape);
        Assert.Contains("vocab.json", manifest.Tokenizer.Files);
        Assert.All(manifest.Source.Files, f => Assert.Matches("^[0-9a-f]{64}$", f.Sha256));
        Assert.Equal(["pixel_values"], manifest.Vision.Inputs.Select(p => p.Name));
        Assert.Equal("""["tiles",256,16]""", manifest.Vision.Outputs[0].Shape.ToJsonString());
        Assert.Equal(1 + 2, manifest.Decoder.Outputs.Length);
    }

    [Fact]
    public void Tied_embeddings_use_the_embedding_table_as_lm_head()
    {
        // Two checkpoints with the same weights: one ties lm_head to embed_tokens, the other stores a copy as lm_head.
        using var dir = new TempDir();
        float[]? embed = null;
        float[] Remember(string name, float[] values)
        {
            if (name == QwenDecoderGraph.EmbedTokensKey) embed = values;
            return name == "language_model.lm_head.weight" ? embed! : values;
        }
        var untied = SyntheticCheckpoint.BaseConfig();
        SyntheticCheckpoint.Write(dir.File("untied"), untied, editValues: Remember);
        var tied = SyntheticCheckpoint.BaseConfig();
        tied["llm_config"]!["tie_word_embeddings"] = true;
        SyntheticCheckpoint.Write(dir.File("tied"), tied);
        Assert.NotNull(embed);

        float[] Logits(string name)
        {
            Convert(dir.File(name), dir.File(name + "-out"));
            using var model = InternVLModel.Open(dir.File(name + "-out"));
            int[] ids = [9707, 11, 1879, 0, 151645];
            var rows = new float[ids.Length * model.Embeddings.HiddenSize];
            model.Embeddings.Lookup(ids, rows);
            using var cache = model.Language.CreateCache();
            return model.Language.Forward(rows, cache, logitsToKeep: 0);
        }
        float[] a = Logits("untied"), b = Logits("tied");
        Assert.Equal(0, Goldens.MaxAbsDiff(a, b));
        Assert.Contains(a, x => Math.Abs(x) > 1e-3);
    }

    [Fact]
    public void Bicubic_resampling_of_the_position_grid_is_the_identity_at_the_same_size_and_exact_on_linear_ramps()
    {
        const int n = 8, channels = 2;
        var grid = new float[n * n * channels];
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++)
            {
                grid[(y * n + x) * channels] = 0.25f * x - 0.5f * y + 1;
                grid[(y * n + x) * channels + 1] = MathF.Sin(x * 1.3f + y);
            }
        var same = new float[grid.Length];
        InternVitGraph.BicubicResample(grid, n, same, n, channels);
        Assert.Equal(grid, same);

        // Halving puts every sample midway between two source points (t = 0.5), where the symmetric cubic weights
        // reproduce a linear ramp exactly, for any kernel parameter; borders are clamped, so only interior samples count.
        const int m = n / 2;
        var half = new float[m * m * channels];
        InternVitGraph.BicubicResample(grid, n, half, m, channels);
        for (int oy = 1; oy < m - 1; oy++)
            for (int ox = 1; ox < m - 1; ox++)
            {
                double sy = 2 * oy + 0.5, sx = 2 * ox + 0.5;
                Assert.Equal(0.25 * sx - 0.5 * sy + 1, half[(oy * m + ox) * channels], 5);
            }

        // A constant grid stays constant at any size (the weights sum to one), borders included.
        var constant = new float[n * n];
        Array.Fill(constant, 3.5f);
        var grown = new float[11 * 11];
        InternVitGraph.BicubicResample(constant, n, grown, 11, 1);
        Assert.All(grown, v => Assert.Equal(3.5, v, 5));
    }

    private sealed class SynchronousProgress(Action<ConversionProgress> report) : IProgress<ConversionProgress>
    {
        public void Report(ConversionProgress value) => report(value);
    }
}
