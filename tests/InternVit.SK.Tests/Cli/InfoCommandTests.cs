using InternVit.SK.Cli;
using System.Text.Json.Nodes;

namespace InternVit.SK.Tests.Cli;

public class InfoCommandTests
{
    private static (int Code, string Output, string Error) Run(params string[] args) => CliRunner.Run(args);

    /// <summary>Checkpoint A in either layout: the same model, counted the same, with its layout named.</summary>
    [Theory]
    [InlineData("original", "InternVLChatModel")]
    [InlineData("huggingface", "InternVLForConditionalGeneration")]
    public void Json_summary_of_the_tiny_checkpoint(string layout, string architecture)
    {
        string checkpoint = layout == "original" ? TestPaths.TinyCheckpoint : TestPaths.TinyHfCheckpoint;
        var (code, output, error) = Run("info", checkpoint, "--json");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        var json = JsonNode.Parse(output)!;
        Assert.Equal(architecture, (string?)json["architecture"]);
        Assert.Equal(layout, (string?)json["layout"]);
        Assert.Equal("InternVL2.5 / InternVL3 (Qwen2 LLM)", (string?)json["family"]);
        Assert.Equal("internvl2_5", (string?)json["template"]);
        Assert.Equal(-1, (int)json["vision"]!["select_layer"]!);
        Assert.Equal(448, (int)json["vision"]!["image_size"]!);
        Assert.False((bool)json["llm"]!["tie_word_embeddings"]!);
        Assert.Equal(12, (int)json["tiling"]!["max_tiles"]!);
        Assert.True((bool)json["tiling"]!["use_thumbnail"]!);
        Assert.Equal(2, (int)json["vision"]!["layers"]!);
        Assert.Equal(64, (int)json["vision"]!["hidden_size"]!);
        Assert.Equal(4, (int)json["vision"]!["heads"]!);
        Assert.Equal("layer_norm", (string?)json["vision"]!["norm_type"]);
        Assert.False((bool)json["vision"]!["qk_normalization"]!);
        Assert.Equal(256, (int)json["projector"]!["tokens_per_tile"]!);
        Assert.Equal("Qwen2ForCausalLM", (string?)json["llm"]!["architecture"]);
        Assert.Equal(2, (int)json["llm"]!["kv_heads"]!);
        Assert.Equal(151674, (int)json["llm"]!["vocab_size"]!);
        // 2 x 151674 x 64 for embeddings and lm_head plus the two decoder layers and the final norm.
        Assert.Equal(19_488_576, (long)json["parameters"]!["llm"]!["parameters"]!);
        Assert.Equal(170_560, (long)json["parameters"]!["vision"]!["parameters"]!);
        Assert.Equal(21_120, (long)json["parameters"]!["projector"]!["parameters"]!);
        Assert.Equal(19_680_256, (long)json["parameters"]!["total"]!);
    }

    [Fact]
    public void Text_summary_names_each_component()
    {
        var (code, output, _) = Run("info", TestPaths.TinyCheckpoint);
        Assert.Equal(0, code);
        Assert.Contains("layout             original OpenGVLab (InternVLChatModel", output);
        Assert.Contains("2 layers, width 64, 4 heads (dim 16), MLP 128, norm layer_norm, qk-norm no", output);
        Assert.Contains("4 heads, 2 kv heads (dim 16), MLP 128, vocab 151674", output);
        Assert.Contains("19,680,256", output);
    }

    [Fact]
    public void Text_summary_of_a_hugging_face_native_checkpoint_names_its_layout()
    {
        var (code, output, _) = Run("info", TestPaths.TinyHfCheckpoint);
        Assert.Equal(0, code);
        Assert.Contains("layout             Hugging Face-native (InternVLForConditionalGeneration", output);
        Assert.Contains("2 layers, width 64, 4 heads (dim 16), MLP 128, norm layer_norm, qk-norm no", output);
        Assert.Contains("19,680,256", output);
        Assert.Contains("family             InternVL2.5 / InternVL3 (Qwen2 LLM)", output);
    }

    /// <summary>Checkpoint C in the Hugging Face-native layout: both lines, family and layout.</summary>
    [Fact]
    public void Checkpoint_c_in_the_hugging_face_native_layout_is_named_by_family_and_layout()
    {
        var (code, output, error) = Run("info", TestPaths.TinyHfCheckpointC);
        Assert.True(code == 0, error);
        Assert.Contains("family             InternVL3.5 (Qwen3 LLM)", output);
        Assert.Contains("layout             Hugging Face-native", output);
        Assert.Contains("4 heads, 2 kv heads (dim 32), MLP 128, vocab 151936", output);
    }

    [Fact]
    public void Checkpoint_c_is_named_internvl3_5_with_qwen3s_head_dim_and_tied_head()
    {
        var (code, output, error) = Run("info", TestPaths.TinyCheckpointC, "--json");
        Assert.True(code == 0, error);
        var json = JsonNode.Parse(output)!;
        Assert.Equal("InternVL3.5 (Qwen3 LLM)", (string?)json["family"]);
        Assert.Equal("Qwen3ForCausalLM", (string?)json["llm"]!["architecture"]);
        Assert.Equal(32, (int)json["llm"]!["head_dim"]!);
        Assert.Equal(151936, (int)json["llm"]!["vocab_size"]!);
        Assert.True((bool)json["llm"]!["tie_word_embeddings"]!);
        (code, output, error) = Run("info", TestPaths.TinyCheckpointC);
        Assert.True(code == 0, error);
        Assert.Contains("family             InternVL3.5 (Qwen3 LLM)", output);
        Assert.Contains("4 heads, 2 kv heads (dim 32), MLP 128, vocab 151936", output);
    }

    [Fact]
    public void Bad_folder_is_one_line_on_stderr_with_exit_code_2()
    {
        using var dir = new TempDir();
        var (code, output, error) = Run("info", dir.Path);
        Assert.Equal(CliApp.InputError, code);
        Assert.Equal("", output);
        Assert.StartsWith("internvl: ", error);
        Assert.Contains("config.json", error);
        Assert.Single(error.Trim().Split('\n'));
    }
}
