using InternVit.SK.ModelFolder;
using System.Text.Json;
using InternVit.SK.Export;

namespace InternVit.SK.Tests.Cli;

public sealed class ConvertCommandTests
{
    [Fact]
    public void Convert_shows_progress_then_inspect_logits_saves_the_reference_logits()
    {
        using var dir = new TempDir();
        string model = dir.File("model");
        var (code, output, error) = CliRunner.Run("convert", TestPaths.TinyCheckpoint, model);
        Assert.True(code == 0, error);
        Assert.Contains("[3/6] vision graph: vision layer 2/2", output);
        Assert.Contains("[4/6] decoder graph: decoder layer 1/2", output);
        Assert.Contains("converted", output);
        Assert.True(ModelManifest.Exists(model));

        (code, output, _) = CliRunner.Run("convert", TestPaths.TinyCheckpoint, model);
        Assert.Equal(0, code);
        Assert.Contains("nothing to do", output);

        using var golden = Goldens.Open(Goldens.ModelA("llm_raw_text.safetensors"));
        long[] ids = golden.ReadInt64("input_ids");
        File.WriteAllText(dir.File("ids.json"), JsonSerializer.Serialize(ids));
        (code, output, error) = CliRunner.Run("inspect", "logits", model, "--ids-file", dir.File("ids.json"), "--out", dir.File("logits.safetensors"));
        Assert.True(code == 0, error);
        using var saved = Goldens.Open(dir.File("logits.safetensors"));
        Assert.Equal(ids, saved.ReadInt64("input_ids"));
        Assert.InRange(Goldens.MaxAbsDiff(saved.ReadFloat32("logits"), golden.ReadFloat32("logits")), 0, 1e-3);
    }

    [Theory]
    [InlineData("exact_448x448.png", 1)]
    [InlineData("table_1600x900.png", 9)]
    [InlineData("photo_webp_800x450.webp", 3)]
    public void Inspect_features_from_an_image_file_matches_the_official_vision_features(string image, int tiles)
    {
        using var dir = new TempDir();
        string model = dir.File("model");
        Assert.Equal(0, CliRunner.Run("convert", TestPaths.TinyCheckpoint, model).Code);
        var (code, output, error) = CliRunner.Run("inspect", "features", model, Path.Combine(TestPaths.Fixtures, "images", image), "--out", dir.File("f.safetensors"));
        Assert.True(code == 0, error);
        Assert.Contains($"{tiles} tiles", output);
        using var saved = Goldens.Open(dir.File("f.safetensors"));
        using var golden = Goldens.Open(Goldens.ModelA($"vision_{Path.GetFileNameWithoutExtension(image)}.safetensors"));
        Assert.Equal(golden.GetInfo("vit_embeds").Shape, saved.GetInfo("image_features").Shape);
        Assert.InRange(Goldens.MaxAbsDiff(saved.ReadFloat32("image_features"), golden.ReadFloat32("vit_embeds")), 0, 1e-4);
    }

    [Theory]
    [InlineData("[]", "empty")]
    [InlineData("{\"ids\": 1}", "JSON array")]
    public void Inspect_logits_explains_a_bad_ids_file(string content, string message)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("ids.json"), content);
        var (code, _, error) = CliRunner.Run("inspect", "logits", dir.Path, "--ids-file", dir.File("ids.json"), "--out", dir.File("x.safetensors"));
        Assert.Equal(2, code);
        Assert.Contains(message, error);
    }

    [Fact]
    public void Convert_refuses_an_unknown_precision()
    {
        using var dir = new TempDir();
        var (code, _, error) = CliRunner.Run("convert", TestPaths.TinyCheckpoint, dir.File("m"), "--precision", "int3");
        Assert.NotEqual(0, code);
        Assert.Contains("int3", error);
        Assert.False(Directory.Exists(dir.File("m")));
    }

    [Fact]
    public void Convert_reports_a_broken_checkpoint_with_exit_code_2()
    {
        using var dir = new TempDir();
        var (code, _, error) = CliRunner.Run("convert", dir.Path, dir.File("m"));
        Assert.Equal(2, code);
        Assert.Contains("config.json", error);
    }
}
