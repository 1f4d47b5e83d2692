using System.Text.Json.Nodes;
using InternVit.SK.Checkpoints;
using InternVit.SK.Export;
using InternVit.SK.Generation;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Export;

/// <summary>
/// The Hugging Face-native layout (internvl-tiny-a-hf, checkpoint A as transformers' conversion script writes it): its
/// config read into checkpoint A's, its keys mapped back, the <c>model.</c>-prefixed spelling, and what is refused.
/// The golden checks themselves run in <see cref="ConvertedHfModelGoldenTests"/> and HfGenerationGoldenTests.
/// </summary>
public sealed class HuggingFaceLayoutTests(ITestOutputHelper output)
{
    /// <summary>
    /// A copy of internvl-tiny-a-hf in <paramref name="dir"/>/hf, its tensors renamed by <paramref name="rename"/>
    /// (null drops one) and its config.json edited by <paramref name="editConfig"/>.
    /// </summary>
    private static string CopyCheckpoint(TempDir dir, Func<string, string?>? rename = null, Action<JsonObject>? editConfig = null)
    {
        string target = Directory.CreateDirectory(dir.File("hf")).FullName;
        foreach (string file in Directory.GetFiles(TestPaths.TinyHfCheckpoint))
            if (Path.GetFileName(file) != SafetensorsCheckpoint.SingleFileName) File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        if (editConfig is not null)
        {
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(target, "config.json")))!.AsObject();
            editConfig(config);
            File.WriteAllText(Path.Combine(target, "config.json"), config.ToJsonString());
        }
        using var source = SafetensorsFile.Open(Path.Combine(TestPaths.TinyHfCheckpoint, SafetensorsCheckpoint.SingleFileName));
        var entries = new List<SafetensorsEntry>();
        foreach (var t in source.Tensors)
            if ((rename is null ? t.Name : rename(t.Name)) is string name)
                entries.Add(SafetensorsEntry.FromBytes(name, t.Dtype, t.Shape, source.GetBytes(t.Name).ToArray()));
        SafetensorsWriter.Write(Path.Combine(target, SafetensorsCheckpoint.SingleFileName), entries);
        return target;
    }

    /// <summary>The spelling of transformers' in-memory modules (and of files saved from them by other tools).</summary>
    private static string ModelPrefixed(string name) =>
        name == "language_model.lm_head.weight" ? "lm_head.weight"
        : name.StartsWith("language_model.model.", StringComparison.Ordinal) ? "model.language_model." + name["language_model.model.".Length..]
        : "model." + name;

    /// <summary>Converting <paramref name="source"/> throws a CheckpointException naming the problem, and writes nothing beside it.</summary>
    private void AssertRefused(string source, TempDir dir, params string[] messageParts)
    {
        var e = Assert.Throws<CheckpointException>(() =>
            ModelConverter.ConvertAsync(source, dir.File("out")).GetAwaiter().GetResult());
        output.WriteLine(e.Message);
        foreach (string part in messageParts) Assert.Contains(part, e.Message);
        Assert.Equal(["hf"], Directory.EnumerateFileSystemEntries(dir.Path).Select(p => Path.GetFileName(p)!).ToArray());
    }

    [Fact]
    public void The_config_reads_into_checkpoint_As_original_config()
    {
        var original = InternVLConfig.Load(TestPaths.TinyCheckpoint);
        var hf = InternVLConfig.Load(TestPaths.TinyHfCheckpoint);
        Assert.Equal(CheckpointLayout.Original, original.Layout);
        Assert.Equal(CheckpointLayout.HuggingFace, hf.Layout);
        Assert.Equal(["InternVLForConditionalGeneration"], hf.Architectures);

        // Every field the converter and the runtime read, as checkpoint A's config gives it.
        var (o, h) = (original.VisionConfig, hf.VisionConfig);
        Assert.Equal((o.HiddenSize, o.NumHiddenLayers, o.NumAttentionHeads, o.IntermediateSize, o.NormType, o.QkNormalization, o.QkvBias, o.LayerNormEps, o.ImageSize, o.PatchSize, o.NumChannels, o.HiddenAct),
            (h.HiddenSize, h.NumHiddenLayers, h.NumAttentionHeads, h.IntermediateSize, h.NormType, h.QkNormalization, h.QkvBias, h.LayerNormEps, h.ImageSize, h.PatchSize, h.NumChannels, h.HiddenAct));
        Assert.Equal((original.ImageSize, original.TokensPerTile, original.ProjectorInputSize, original.DownsampleRatio, original.SelectLayer, original.PsVersion, original.Template),
            (hf.ImageSize, hf.TokensPerTile, hf.ProjectorInputSize, hf.DownsampleRatio, hf.SelectLayer, hf.PsVersion, hf.Template));
        Assert.Equal((original.DynamicImageSize, original.UseThumbnail, original.MinDynamicPatch, original.MaxDynamicPatch),
            (hf.DynamicImageSize, hf.UseThumbnail, hf.MinDynamicPatch, hf.MaxDynamicPatch));
        var (ol, hl) = (original.LlmConfig, hf.LlmConfig);
        Assert.Equal((ol.Architectures[0], ol.ModelType, ol.HiddenSize, ol.IntermediateSize, ol.NumHiddenLayers, ol.NumAttentionHeads, ol.KeyValueHeads, ol.VocabSize, ol.RmsNormEps, ol.RopeTheta, ol.MaxPositionEmbeddings, ol.TieWordEmbeddings, ol.BosTokenId),
            (hl.Architectures[0], hl.ModelType, hl.HiddenSize, hl.IntermediateSize, hl.NumHiddenLayers, hl.NumAttentionHeads, hl.KeyValueHeads, hl.VocabSize, hl.RmsNormEps, hl.RopeTheta, hl.MaxPositionEmbeddings, hl.TieWordEmbeddings, hl.BosTokenId));
        Assert.Equal(ol.EosTokenIds, hl.EosTokenIds);
        Assert.Equal(151667, hf.ImageTokenId);
    }

    [Fact]
    public void Tying_is_read_from_text_config_and_the_tile_limits_from_the_preprocessor_config()
    {
        using var dir = new TempDir();
        // transformers' InternVLConfig defaults the top-level tie_word_embeddings to true; the text model's own (absent = false) decides.
        string source = CopyCheckpoint(dir, editConfig: c => c["tie_word_embeddings"] = true);
        var preprocessor = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "preprocessor_config.json")))!.AsObject();
        preprocessor["min_patches"] = 2;
        preprocessor["max_patches"] = 6;
        File.WriteAllText(Path.Combine(source, "preprocessor_config.json"), preprocessor.ToJsonString());
        var config = InternVLConfig.Load(source);
        Assert.False(config.LlmConfig.TieWordEmbeddings);
        Assert.Equal((2, 6), (config.MinDynamicPatch, config.MaxDynamicPatch));

        var tied = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        tied["text_config"]!["tie_word_embeddings"] = true;
        File.WriteAllText(Path.Combine(source, "config.json"), tied.ToJsonString());
        Assert.True(InternVLConfig.Load(source).LlmConfig.TieWordEmbeddings);
    }

    /// <summary>
    /// transformers saves a config as a diff against the class defaults, and newer versions write rope_parameters: the
    /// text model's fields left out take Qwen2Config's / Qwen3Config's defaults (Qwen3's head_dim 128, not hidden / heads).
    /// </summary>
    [Fact]
    public void Text_config_fields_left_out_take_the_transformers_class_defaults()
    {
        using var dir = new TempDir();
        string source = CopyCheckpoint(dir, editConfig: c =>
        {
            var text = c["text_config"]!.AsObject();
            text.Remove("max_position_embeddings");
            text.Remove("rope_theta");
            text["rope_parameters"] = new JsonObject { ["rope_theta"] = 1000000.0, ["rope_type"] = "default" };
        });
        var config = InternVLConfig.Load(source).LlmConfig;
        Assert.Equal((32768, 1000000.0, 151674, 16), (config.MaxPositionEmbeddings, config.RopeTheta, config.VocabSize, config.HeadDim));

        var qwen3 = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        qwen3["text_config"]!["model_type"] = "qwen3";
        qwen3["text_config"]!["architectures"] = new JsonArray("Qwen3ForCausalLM");
        qwen3["text_config"]!.AsObject().Remove("vocab_size");
        File.WriteAllText(Path.Combine(source, "config.json"), qwen3.ToJsonString());
        config = InternVLConfig.Load(source).LlmConfig;
        Assert.Equal((128, 151936), (config.HeadDim, config.VocabSize));

        // The vision encoder's and the top level's class defaults: InternViT-300M's shape, image_token_id 151667, text model qwen2.
        var bare = JsonNode.Parse("""{"architectures":["InternVLForConditionalGeneration"],"vision_config":{},"text_config":{}}""")!.AsObject();
        File.WriteAllText(dir.File("bare.json"), bare.ToJsonString());
        var defaults = InternVLConfig.Load(dir.File("bare.json"));
        var v = defaults.VisionConfig;
        Assert.Equal((1024, 24, 16, 4096, "layer_norm", false, false, 448, 14), (v.HiddenSize, v.NumHiddenLayers, v.NumAttentionHeads, v.IntermediateSize, v.NormType, v.QkvBias, v.QkNormalization, v.ImageSize, v.PatchSize));
        Assert.Equal((151667, -1, 0.5), (defaults.ImageTokenId, defaults.SelectLayer, defaults.DownsampleRatio));
        Assert.Equal(("qwen2", "Qwen2ForCausalLM", 151936, 4096, 32), (defaults.LlmConfig.ModelType, defaults.LlmConfig.Architectures[0], defaults.LlmConfig.VocabSize, defaults.LlmConfig.HiddenSize, defaults.LlmConfig.NumHiddenLayers));

        qwen3["text_config"]!["rope_parameters"]!["rope_type"] = "yarn";
        File.WriteAllText(Path.Combine(source, "config.json"), qwen3.ToJsonString());
        Assert.Contains("rope_parameters.rope_type 'yarn'", Assert.Throws<CheckpointException>(() => InternVLConfig.Load(source)).Problem);
    }

    [Fact]
    public void ExpectedTensors_lists_the_checkpoints_own_keys_with_q_k_v_apart()
    {
        var expected = ModelConverter.ExpectedTensors(TestPaths.TinyHfCheckpoint);
        using var checkpoint = SafetensorsCheckpoint.Open(TestPaths.TinyHfCheckpoint);
        Assert.Equal(73, checkpoint.Tensors.Count());
        Assert.Equal(checkpoint.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), expected.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (var (name, shape) in expected) Assert.Equal(shape, checkpoint.GetInfo(name).Shape);
        Assert.Contains(expected, t => t.Name == "vision_tower.encoder.layer.1.attention.v_proj.bias" && t.Shape.SequenceEqual([64L]));
        Assert.Contains(expected, t => t.Name == "multi_modal_projector.linear_1.weight" && t.Shape.SequenceEqual([64L, 256]));
        Assert.Contains(expected, t => t.Name == "language_model.lm_head.weight");

        // A folder holding only a config (a tool about to write the weights) gets the names transformers stores.
        using var dir = new TempDir();
        File.Copy(Path.Combine(TestPaths.TinyHfCheckpoint, "config.json"), dir.File("config.json"));
        Assert.Equal(expected.Select(t => t.Name), ModelConverter.ExpectedTensors(dir.Path).Select(t => t.Name));
    }

    /// <summary>The fused qkv the builder reads is q_proj, k_proj and v_proj stacked: checkpoint A's tensor, bit for bit.</summary>
    [Fact]
    public void The_mapped_view_gives_checkpoint_As_tensors_bit_for_bit()
    {
        var config = InternVLConfig.Load(TestPaths.TinyHfCheckpoint);
        using var original = SafetensorsCheckpoint.Open(TestPaths.TinyCheckpoint);
        using var hf = CheckpointReader.Open(TestPaths.TinyHfCheckpoint, config.Layout);
        foreach (var t in original.Tensors)
        {
            Assert.Equal(t.Shape, hf.Shape(t.Name));
            Assert.Equal(original.ReadFloat32(t.Name), hf.ReadFloat32(t.Name));
        }
        Assert.Equal(65, original.Tensors.Count());
    }

    [Fact]
    public async Task The_model_prefixed_spelling_converts_and_matches_the_goldens()
    {
        using var dir = new TempDir();
        string source = CopyCheckpoint(dir, ModelPrefixed);
        Assert.Contains(ModelConverter.ExpectedTensors(source), t => t.Name == "model.vision_tower.encoder.layer.0.attention.q_proj.weight");
        Assert.Contains(ModelConverter.ExpectedTensors(source), t => t.Name == "lm_head.weight");

        var result = await ModelConverter.ConvertAsync(source, dir.File("out"));
        Assert.Equal("huggingface", result.Manifest.Source.Layout);
        using var model = InternVLModel.Open(dir.File("out"));

        var (pixelValues, n) = Goldens.PixelValuesFromTiles("exact_448x448");
        using (var vision = Goldens.Open(Goldens.ModelA("vision_exact_448x448.safetensors")))
        {
            double diff = Goldens.MaxAbsDiff(model.Vision.Encode(pixelValues, n), vision.ReadFloat32("vit_embeds"));
            output.WriteLine($"model.-prefixed keys: vit_embeds max |diff| = {diff:E2}");
            Assert.InRange(diff, 0, 1e-4);
        }
        using var golden = Goldens.Open(Goldens.ModelA("llm_raw_text.safetensors"));
        int[] ids = Array.ConvertAll(golden.ReadInt64("input_ids"), x => (int)x);
        var embeds = new float[ids.Length * model.Embeddings.HiddenSize];
        model.Embeddings.Lookup(ids, embeds);
        using var cache = model.Language.CreateCache();
        double logitsDiff = Goldens.MaxAbsDiff(model.Language.Forward(embeds, cache, logitsToKeep: 0), golden.ReadFloat32("logits"));
        output.WriteLine($"model.-prefixed keys: raw_text logits max |diff| = {logitsDiff:E2}");
        Assert.InRange(logitsDiff, 0, 1e-3);
    }

    [Fact]
    public void A_missing_q_k_v_part_is_named_in_the_checkpoints_own_keys()
    {
        using var dir = new TempDir();
        const string name = "vision_tower.encoder.layer.1.attention.v_proj.weight";
        string source = CopyCheckpoint(dir, n => n == name ? null : n);
        AssertRefused(source, dir, "missing tensor", $"'{name}'", "[64,64]");
    }

    [Fact]
    public void A_missing_part_in_the_prefixed_spelling_is_named_in_that_spelling()
    {
        using var dir = new TempDir();
        const string name = "vision_tower.encoder.layer.0.attention.k_proj.bias";
        string source = CopyCheckpoint(dir, n => n == name ? null : ModelPrefixed(n));
        AssertRefused(source, dir, "missing tensor", $"'model.{name}'");
    }

    [Fact]
    public void An_image_token_id_other_than_the_tokenizers_IMG_CONTEXT_is_refused()
    {
        using var dir = new TempDir();
        string source = CopyCheckpoint(dir, editConfig: c => c["image_token_id"] = 151666);
        AssertRefused(source, dir, "image_token_id 151666", "<IMG_CONTEXT> (151667)");
    }

    [Theory]
    [InlineData("projector_hidden_act", "relu", "projector_hidden_act 'relu' is not supported")]
    [InlineData("vision_feature_select_strategy", "full", "vision_feature_select_strategy 'full' is not supported")]
    public void A_projector_or_feature_selection_other_than_InternVLs_is_refused(string field, string value, string message)
    {
        using var dir = new TempDir();
        string source = CopyCheckpoint(dir, editConfig: c => c[field] = value);
        AssertRefused(source, dir, message);
    }

    [Fact]
    public void A_rectangular_image_size_is_refused_by_field()
    {
        using var dir = new TempDir();
        string source = CopyCheckpoint(dir, editConfig: c => c["vision_config"]!["image_size"] = new JsonArray(448, 336));
        var e = Assert.Throws<CheckpointException>(() => InternVLConfig.Load(source));
        Assert.Contains("vision_config.image_size is [448, 336]", e.Problem);
    }

    [Fact]
    public void A_normalization_other_than_InternVLs_is_refused()
    {
        using var dir = new TempDir();
        string source = CopyCheckpoint(dir);
        string path = Path.Combine(source, "preprocessor_config.json");
        var preprocessor = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        preprocessor["image_mean"] = new JsonArray(0.5, 0.5, 0.5);
        File.WriteAllText(path, preprocessor.ToJsonString());
        var e = Assert.Throws<CheckpointException>(() => InternVLConfig.Load(source));
        Assert.Equal(path, e.FilePath);
        Assert.Contains("image_mean [0.5,0.5,0.5]", e.Problem);
    }

    [Fact]
    public void Weights_in_the_other_layout_than_the_config_are_refused()
    {
        using var dir = new TempDir();
        string source = CopyCheckpoint(dir);
        File.Copy(Path.Combine(TestPaths.TinyCheckpoint, "config.json"), Path.Combine(source, "config.json"), overwrite: true);
        AssertRefused(source, dir, "original InternVL layout", "Hugging Face-native", "mixes two checkpoints");
    }
}

/// <summary>The model loaded from the Hugging Face-native checkpoint: the files it keeps, and the <c>&lt;video&gt;</c> token it has no row for.</summary>
[Collection(ConvertedTinyHfModelCollection.Name)]
public sealed class HuggingFaceLayoutModelTests(ConvertedTinyHfModel tiny)
{
    [Fact]
    public void LoadAsync_converted_it_into_the_cache_and_kept_its_processor_and_tokenizer_files()
    {
        var manifest = tiny.Model.Manifest;
        Assert.Equal("huggingface", manifest.Source.Layout);
        Assert.Equal("InternVLForConditionalGeneration", manifest.Source.Architecture);
        Assert.Contains(manifest.Source.Files, f => f.Name == "preprocessor_config.json");
        Assert.Equal("internvl2_5", manifest.Template);
        Assert.Equal((1, 12, true), (manifest.Image.MinTiles, manifest.Image.MaxTiles, manifest.Image.UseThumbnail));
        Assert.Equal(151667, manifest.SpecialTokens.ImageContext);
        Assert.Equal(QwenDecoderGraph.EmbedTokensKey, manifest.Embeddings.Tensor);
        foreach (string file in (string[])["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "preprocessor_config.json", "processor_config.json"])
        {
            Assert.Contains(file, manifest.Tokenizer.Files);
            Assert.Equal(File.ReadAllBytes(Path.Combine(TestPaths.Checkpoint(tiny.Checkpoint), file)), File.ReadAllBytes(Path.Combine(tiny.Directory, file)));
        }
        Assert.StartsWith(Path.GetFileName(TestPaths.Checkpoint(tiny.Checkpoint)), Path.GetFileName(tiny.Directory), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_video_placeholder_beyond_the_models_vocabulary_is_refused_in_user_text()
    {
        var model = tiny.Model;
        Assert.Equal(151674, model.Tokenizer.TokenToId("<video>"));
        Assert.Equal(151674, model.Language.VocabSize);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => model.StartConversation().GenerateAsync("Describe <video> please"));
        Assert.Contains("'<video>'", e.Message);
        // The word itself, without the brackets, is ordinary text.
        var ok = await model.StartConversation().GenerateAsync("Describe the video", options: new GenerationOptions { MaxNewTokens = 1 });
        Assert.Single(ok.TokenIds);
    }
}
