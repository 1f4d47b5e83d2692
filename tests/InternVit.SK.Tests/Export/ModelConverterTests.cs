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
    [InlineData("InternLM2ForCausalLM", "InternLM2")]
    [InlineData("LlamaForCausalLM", "Llama")]
    [InlineData("Phi3ForCausalLM", "Phi-3")]
    [InlineData("GptOssForCausalLM", "GPT-OSS")]
    [InlineData("Qwen3MoeForCausalLM", "Qwen3 MoE")]
    public void An_llm_family_not_built_yet_is_refused_by_field(string architecture, string family)
    {
        var config = SyntheticCheckpoint.BaseConfig();
        config["llm_config"]!["architectures"] = new JsonArray(architecture);
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(dir.File("hf")).FullName, "config.json"), config.ToJsonString());
        var e = Assert.Throws<CheckpointException>(() => Convert(dir.File("hf"), dir.File("out")));
        Assert.Contains("llm_config.architectures[0]", e.Message);
        Assert.Contains(architecture, e.Message);
        Assert.Contains(family + " language models are not supported", e.Message);
        Assert.Contains("Qwen2ForCausalLM, Qwen3ForCausalLM", e.Message);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    /// <summary>InternVL3.5-Flash's config names its visual resolution router (flash_mode, the router's thresholds).</summary>
    [Theory]
    [InlineData("flash_mode", true)]
    [InlineData("flash_relative_threshold", 0.1)]
    public void A_flash_variant_is_refused_by_name(string field, object value)
    {
        var config = SyntheticCheckpoint.Qwen3Config();
        config[field] = JsonValue.Create(value);
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(dir.File("hf")).FullName, "config.json"), config.ToJsonString());
        var e = Assert.Throws<CheckpointException>(() => Convert(dir.File("hf"), dir.File("out")));
        Assert.Contains("InternVL3.5 Flash", e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains("visual resolution router", e.Message);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Fact]
    public void A_qwen3_checkpoint_without_its_query_norm_is_refused_by_tensor()
    {
        const string name = "language_model.model.layers.0.self_attn.q_norm.weight";
        AssertRefused(SyntheticCheckpoint.Qwen3Config(), t => t.Where(x => x.Name != name).ToList(), "missing tensor", name);
    }

    [Fact]
    public void Qwen3s_explicit_head_dim_sets_the_projection_widths()
    {
        // hidden 16, 2 heads, head_dim 16 (not 16 / 2): q_proj is 32 wide, k/v 16 (1 KV head), o_proj reads 32.
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(dir.File("hf")).FullName, "config.json"), SyntheticCheckpoint.Qwen3Config().ToJsonString());
        var shapes = ModelConverter.ExpectedTensors(dir.File("hf")).ToDictionary(t => t.Name, t => t.Shape);
        string l = "language_model.model.layers.0.self_attn";
        Assert.Equal([32, 16], shapes[$"{l}.q_proj.weight"]);
        Assert.Equal([16, 16], shapes[$"{l}.k_proj.weight"]);
        Assert.Equal([16, 32], shapes[$"{l}.o_proj.weight"]);
        Assert.Equal([16], shapes[$"{l}.q_norm.weight"]);
        Assert.Equal([16], shapes[$"{l}.k_norm.weight"]);
        Assert.DoesNotContain($"{l}.q_proj.bias", shapes.Keys);
        Assert.DoesNotContain($"{l}.o_proj.bias", shapes.Keys);
    }

    /// <summary>
    /// Qwen3 with attention_bias true has q/k/v/o biases: with the biases zero it computes what the checkpoint without
    /// them computes, and with random biases something else (so they are applied, not merely loaded).
    /// </summary>
    [Fact]
    public void Qwen3s_attention_bias_adds_biases_to_q_k_v_and_o()
    {
        using var dir = new TempDir();
        var values = new Dictionary<string, float[]>();
        var biased = SyntheticCheckpoint.Qwen3Config();
        biased["llm_config"]!["attention_bias"] = true;
        SyntheticCheckpoint.Write(dir.File("random-bias"), biased, editValues: (name, v) => values[name] = v);
        foreach (string part in (string[])["q_proj", "k_proj", "v_proj", "o_proj"])
            Assert.Contains($"language_model.model.layers.0.self_attn.{part}.bias", values.Keys);
        SyntheticCheckpoint.Write(dir.File("zero-bias"), biased, editValues: (name, v) => name.EndsWith("_proj.bias", StringComparison.Ordinal) && name.Contains("self_attn") ? new float[v.Length] : values[name]);
        SyntheticCheckpoint.Write(dir.File("no-bias"), SyntheticCheckpoint.Qwen3Config(), editValues: (name, _) => values[name]);

        float[] none = Logits(dir, "no-bias"), zero = Logits(dir, "zero-bias"), random = Logits(dir, "random-bias");
        Assert.InRange(Goldens.MaxAbsDiff(none, zero), 0, 1e-5);
        Assert.InRange(Goldens.MaxAbsDiff(none, random), 1e-3, double.PositiveInfinity);
    }

    /// <summary>The logits of a few tokens at every position, from checkpoint <paramref name="name"/> under <paramref name="dir"/> converted at fp32.</summary>
    private static float[] Logits(TempDir dir, string name)
    {
        Convert(dir.File(name), dir.File(name + "-out"));
        using var model = InternVLModel.Open(dir.File(name + "-out"));
        int[] ids = [9707, 11, 1879, 0, 151645];
        var rows = new float[ids.Length * model.Embeddings.HiddenSize];
        model.Embeddings.Lookup(ids, rows);
        using var cache = model.Language.CreateCache();
        return model.Language.Forward(rows, cache, logitsToKeep: 0);
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
    public void A_hugging_face_native_config_without_weights_is_refused()
    {
        // Fields a Hugging Face config leaves out take transformers' class defaults, so this bare one describes a model.
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("hf"));
        File.WriteAllText(dir.File("hf/config.json"), """{"architectures":["InternVLForConditionalGeneration"],"text_config":{},"vision_config":{}}""");
        var e = Assert.Throws<CheckpointException>(() => Convert(dir.File("hf"), dir.File("out")));
        Assert.Contains("no weights", e.Message);
        Assert.False(Directory.Exists(dir.File("out")));
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

    [Theory]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    public void Tied_embeddings_use_the_embedding_table_as_lm_head(string llm)
    {
        // Two checkpoints with the same weights: one ties lm_head to embed_tokens, the other stores a copy as lm_head.
        using var dir = new TempDir();
        var values = new Dictionary<string, float[]>();
        float[]? embed = null;
        float[] Remember(string name, float[] v)
        {
            if (name == QwenDecoderGraph.EmbedTokensKey) embed = v;
            values[name] = v;
            return name == "language_model.lm_head.weight" ? embed! : v;
        }
        JsonObject Config() => llm == "qwen3" ? SyntheticCheckpoint.Qwen3Config() : SyntheticCheckpoint.BaseConfig();
        var untied = Config();
        untied["llm_config"]!["tie_word_embeddings"] = false;
        SyntheticCheckpoint.Write(dir.File("untied"), untied, editValues: Remember);
        var tied = Config();
        tied["llm_config"]!["tie_word_embeddings"] = true;
        SyntheticCheckpoint.Write(dir.File("tied"), tied, editValues: (name, _) => values[name]);
        Assert.NotNull(embed);

        float[] a = Logits(dir, "untied"), b = Logits(dir, "tied");
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
