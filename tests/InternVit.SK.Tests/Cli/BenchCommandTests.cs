using System.Text.Json;

namespace InternVit.SK.Tests.Cli;

public sealed class BenchCommandTests
{
    [Fact]
    public void Bench_writes_converts_and_times_a_tiny_random_checkpoint_then_reuses_it()
    {
        using var dir = new TempDir();
        string[] args = ["bench", "--shape", "tiny", "--precision", "int4", "--runs", "1", "--prompt-tokens", "8", "--gen-tokens", "2", "--cache-dir", dir.Path];
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
        Assert.True(File.Exists(Path.Combine(dir.Path, "tiny-seed1", "hf", ".complete")));
        long written = File.GetLastWriteTimeUtc(Path.Combine(dir.Path, "tiny-seed1", "hf", "model.safetensors")).Ticks;

        // Again, as text, with 3 tiles per vision run and the profiler: the checkpoint is reused.
        string profiles = Path.Combine(dir.Path, "profiles");
        (code, output, error) = CliRunner.Run([.. args, "--tiles", "3", "--profile", profiles]);
        Assert.True(code == 0, error);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(dir.Path, "tiny-seed1", "hf", "model.safetensors")).Ticks);
        Assert.Contains("ms per tile (3 per run)", output);
        Assert.Contains("prefill              ", output);
        Assert.Contains("profile vision (3 tile(s))", output);
        Assert.Matches(@"profile decoder \(prefill of 8 and of a \d+-token prompt \+ 2 decode steps\)", output);
        Assert.Single(Directory.GetFiles(profiles, "int4-vision_*.json"));
        Assert.Single(Directory.GetFiles(profiles, "int4-decoder_*.json"));
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
