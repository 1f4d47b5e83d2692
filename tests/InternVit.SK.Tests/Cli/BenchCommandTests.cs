using System.Text.Json;

namespace InternVit.SK.Tests.Cli;

public sealed class BenchCommandTests
{
    [Fact]
    public void Bench_writes_converts_and_times_a_tiny_random_checkpoint_then_reuses_it()
    {
        using var dir = new TempDir();
        string[] args = ["bench", "--shape", "tiny", "--precision", "int4", "--runs", "1", "--prompt-tokens", "8", "--gen-tokens", "2", "--cache-dir", dir.Path, "--json"];
        var (code, output, error) = CliRunner.Run(args);
        Assert.True(code == 0, error);
        using var result = JsonDocument.Parse(output);
        var root = result.RootElement;
        Assert.Equal("int4", root.GetProperty("precision").GetString());
        Assert.True(root.GetProperty("vision_ms_per_tile").GetDouble() > 0);
        Assert.True(root.GetProperty("decode_tokens_per_second").GetDouble() > 0);
        Assert.True(root.GetProperty("weight_bytes").GetInt64() > 0);
        Assert.True(File.Exists(Path.Combine(dir.Path, "tiny-seed1", "hf", ".complete")));
        long written = File.GetLastWriteTimeUtc(Path.Combine(dir.Path, "tiny-seed1", "hf", "model.safetensors")).Ticks;

        (code, _, error) = CliRunner.Run(args);
        Assert.True(code == 0, error);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(dir.Path, "tiny-seed1", "hf", "model.safetensors")).Ticks);
    }
}
