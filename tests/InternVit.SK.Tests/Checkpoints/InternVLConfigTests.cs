using System.Text.Json.Nodes;
using InternVit.SK.Checkpoints;

namespace InternVit.SK.Tests.Checkpoints;

public class InternVLConfigTests
{
    [Fact]
    public void Reads_the_fixture_config()
    {
        var c = InternVLConfig.Load(TestPaths.TinyCheckpoint);
        Assert.Equal(["InternVLChatModel"], c.Architectures);
        Assert.Equal("internvl2_5", c.Template);
        Assert.Equal(0.5, c.DownsampleRatio);
        Assert.Equal(-1, c.SelectLayer);
        Assert.Equal("v2", c.PsVersion);
        Assert.Equal(448, c.ForceImageSize);
        Assert.True(c.DynamicImageSize);
        Assert.True(c.UseThumbnail);
        Assert.Equal(1, c.MinDynamicPatch);
        Assert.Equal(12, c.MaxDynamicPatch);
        Assert.Equal(256, c.TokensPerTile);
        Assert.Equal(256, c.ProjectorInputSize);

        var v = c.VisionConfig;
        Assert.Equal("intern_vit_6b", v.ModelType);
        Assert.Equal((64, 2, 4, 128), (v.HiddenSize, v.NumHiddenLayers, v.NumAttentionHeads, v.IntermediateSize));
        Assert.Equal("layer_norm", v.NormType);
        Assert.False(v.QkNormalization);
        Assert.Equal(1e-6, v.LayerNormEps);
        Assert.Equal((448, 14), (v.ImageSize, v.PatchSize));

        var l = c.LlmConfig;
        Assert.Equal(["Qwen2ForCausalLM"], l.Architectures);
        Assert.Equal((64, 128, 2, 4, 2), (l.HiddenSize, l.IntermediateSize, l.NumHiddenLayers, l.NumAttentionHeads, l.KeyValueHeads));
        Assert.Equal(151674, l.VocabSize);
        Assert.Equal(1e6, l.RopeTheta);
        Assert.Equal(1e-6, l.RmsNormEps);
        Assert.False(l.TieWordEmbeddings);
        Assert.Equal([151645], l.EosTokenIds);
        Assert.Equal(16, l.HeadDim);
    }

    private static string WriteVariant(TempDir dir, Action<JsonObject> change)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.TinyCheckpoint, "config.json")))!.AsObject();
        change(json);
        string path = dir.File("config.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    public static TheoryData<string, string> BadConfigs => new()
    {
        { "no-vision", "has no vision_config" },
        { "hf-native", "has no vision_config" },
        { "no-llm", "has no llm_config (original layout) nor text_config (Hugging Face-native layout)" },
        { "bad-norm", "norm_type 'batch_norm'" },
        { "heads", "not divisible by num_attention_heads" },
        { "kv-heads", "not a multiple of num_key_value_heads" },
        { "wrong-type", "wrong type" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void Bad_configs_are_refused_with_the_field_named(string kind, string expected)
    {
        using var dir = new TempDir();
        string path = WriteVariant(dir, json =>
        {
            switch (kind)
            {
                case "no-vision": json.Remove("vision_config"); break;
                case "hf-native": json.Remove("vision_config"); json["text_config"] = new JsonObject(); break;
                case "no-llm": json.Remove("llm_config"); break;
                case "bad-norm": json["vision_config"]!["norm_type"] = "batch_norm"; break;
                case "heads": json["vision_config"]!["num_attention_heads"] = 5; break;
                case "kv-heads": json["llm_config"]!["num_key_value_heads"] = 3; break;
                case "wrong-type": json["llm_config"]!["hidden_size"] = "sixty-four"; break;
            }
        });
        var e = Assert.Throws<CheckpointException>(() => InternVLConfig.Load(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(expected, e.Problem);
    }

    [Fact]
    public void Missing_and_invalid_files_are_refused()
    {
        using var dir = new TempDir();
        Assert.Contains("file not found", Assert.Throws<CheckpointException>(() => InternVLConfig.Load(dir.Path)).Problem);
        File.WriteAllText(dir.File("config.json"), "{ not json");
        Assert.Contains("not valid JSON", Assert.Throws<CheckpointException>(() => InternVLConfig.Load(dir.Path)).Problem);
    }

    [Fact]
    public void Summary_counts_parameters_per_component()
    {
        var s = CheckpointSummary.Read(TestPaths.TinyCheckpoint);
        // Independent count from the config: InternViT (2 layers, width 64, MLP 128) and the projector.
        const int C = 64, I = 128, L = 2;
        long embeddings = C + C * 3 * 14 * 14 + C + 1025 * C;
        long layer = 3 * C * C + 3 * C + C * C + C + I * C + I + C * I + C + 2 * C + 2 * C + 2 * C;
        Assert.Equal(embeddings + L * layer, s.Vision.Parameters);
        Assert.Equal(4 * C + 4 * C + 4 * C * 64 + 64 + 64 * 64 + 64, s.Projector.Parameters);
        const int V = 151674, H = 64, Hm = 128, Kv = 32;
        long llmLayer = H * H + H + 2 * (Kv * H + Kv) + H * H + 3 * H * Hm + 2 * H;
        Assert.Equal(2L * V * H + H + 2 * llmLayer, s.Llm.Parameters);
        Assert.Equal(0, s.Other.Tensors);
        Assert.Equal(s.TotalParameters * 2, s.TotalBytes);
        Assert.Equal(s.TotalParameters, s.ParametersByDtype["BF16"]);
    }
}
