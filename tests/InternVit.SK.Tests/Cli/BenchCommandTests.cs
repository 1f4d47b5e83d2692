using System.Text.Json;

namespace InternVit.SK.Tests.Cli;

public sealed class BenchCommandTests
{
    [Theory]
    [InlineData("tiny")]
    [InlineData("tiny-qwen3")]
    public void Bench_writes_converts_and_times_a_tiny_random_checkpoint_then_reuses_it(string shape)
    {
        using var dir = new TempDir();
        string[] args = ["bench", "--shape", shape, "--precision", "int4", "--runs", "1", "--prompt-tokens", "8", "--gen-tokens", "2", "--cache-dir", dir.Path];
        var (code, output, error) = CliRunner.Run([.. args, "--json"]);
        Assert.True(code == 0, error);
        using var result = JsonDocument.Parse(output);
        var root = result.RootElement;
        Assert.Equal("int4", root.GetProperty("precision").GetString());
        Assert.Equal(1, root.GetProperty("tiles").GetInt32());
        Assert.True(root.GetProperty("vision_ms_per_tile").GetDouble() > 0);
        Assert.True(root.GetProperty("prefill_ms").GetDouble() > 0);
        Assert.True(root.GetProperty("time_to_first_token_ms").GetDouble() > 0);
        Assert.True(root.GetProperty("decode_tokens_per_second").GetDouble() > 0);
        Assert.True(root.GetProperty("weight_bytes").GetInt64() > 0);
        Assert.True(File.Exists(Path.Combine(dir.Path, $"{shape}-seed1", "hf", ".complete")));
        long written = File.GetLastWriteTimeUtc(Path.Combine(dir.Path, $"{shape}-seed1", "hf", "model.safetensors")).Ticks;

        // Again, as text, with 3 tiles per vision run and the profiler: the checkpoint is reused.
        string profiles = Path.Combine(dir.Path, "profiles");
        (code, output, error) = CliRunner.Run([.. args, "--tiles", "3", "--profile", profiles]);
        Assert.True(code == 0, error);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(dir.Path, $"{shape}-seed1", "hf", "model.safetensors")).Ticks);
        Assert.Contains("ms per tile (3 per run)", output);
        Assert.Contains("prefill              ", output);
        Assert.Contains("profile vision (3 tile(s))", output);
        Assert.Matches(@"profile decoder \(prefill of 8 and of a \d+-token prompt \+ 2 decode steps\)", output);
        Assert.Single(Directory.GetFiles(profiles, "int4-vision_*.json"));
        Assert.Single(Directory.GetFiles(profiles, "int4-decoder_*.json"));
    }

    /// <summary>
    /// The real shapes' LLMs, as the converter reads their configs: Qwen3's explicit head_dim 128 makes q_proj 2048 wide
    /// at width 1024 (InternVL3.5-1B) and 2048 at 2048 (-2B), with q/k norms of 128 and the head tied to the embeddings;
    /// InternVL3-2B's Qwen2.5-1.5B has 12 heads of 128 and 2 KV heads, q/k/v biases and its own lm_head.
    /// </summary>
    [Theory]
    [InlineData("internvl3_5-1b", 1024, 28, 2048, 1024, 3072, 151936, true)]
    [InlineData("internvl3_5-2b", 2048, 28, 2048, 1024, 6144, 151936, true)]
    [InlineData("internvl3-2b", 1536, 28, 1536, 256, 8960, 151674, false)]
    [InlineData("internvl2_5-1b", 896, 24, 896, 128, 4864, 151674, false)]
    public void Bench_shapes_have_their_llms_tensor_shapes(string shape, long width, int layers, long q, long kv, long mlp, long vocab, bool qwen3)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("config.json"), InternVit.SK.Cli.SyntheticCheckpoint.Config(shape).ToJsonString());
        var shapes = InternVit.SK.Export.ModelConverter.ExpectedTensors(dir.Path).ToDictionary(t => t.Name, t => t.Shape);
        string l = $"language_model.model.layers.{layers - 1}.self_attn";
        Assert.Equal([q, width], shapes[$"{l}.q_proj.weight"]);
        Assert.Equal([kv, width], shapes[$"{l}.k_proj.weight"]);
        Assert.Equal([width, q], shapes[$"{l}.o_proj.weight"]);
        Assert.Equal([mlp, width], shapes[$"language_model.model.layers.{layers - 1}.mlp.gate_proj.weight"]);
        Assert.Equal([vocab, width], shapes["language_model.model.embed_tokens.weight"]);
        Assert.DoesNotContain($"language_model.model.layers.{layers}.input_layernorm.weight", shapes.Keys);
        Assert.Equal(qwen3, shapes.ContainsKey($"{l}.q_norm.weight"));
        Assert.Equal(!qwen3, shapes.ContainsKey($"{l}.q_proj.bias"));
        Assert.Equal(!qwen3, shapes.ContainsKey("language_model.lm_head.weight"));
        if (qwen3) Assert.Equal([128L], shapes[$"{l}.k_norm.weight"]);
        Assert.Equal(qwen3, InternVit.SK.Cli.SyntheticCheckpoint.IsQwen3(shape));
    }

    [Fact]
    public void Bench_tiles_times_a_jpeg_made_from_the_image()
    {
        var (code, output, error) = CliRunner.Run("bench", "tiles", Path.Combine(TestPaths.Fixtures, "images", "table_1600x900.png"),
            "--iterations", "1", "--as-jpeg", "90");
        Assert.True(code == 0, error);
        Assert.StartsWith("Jpeg 1600x900", output);
        Assert.Contains("grid 4x2, 9 tiles", output);
    }
}
