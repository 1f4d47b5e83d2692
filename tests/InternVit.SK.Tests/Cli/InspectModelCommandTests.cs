using System.Text.Json;
using InternVit.SK.Checkpoints;
using InternVit.SK.Tests.Export;

namespace InternVit.SK.Tests.Cli;

/// <summary><c>internvl inspect features</c> and <c>inspect logits</c> on the converted tiny model, held to the model_a goldens.</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class InspectModelCommandTests(ConvertedTinyModel tiny)
{
    [Fact]
    public void Features_writes_the_golden_image_features_and_the_grid()
    {
        using var dir = new TempDir();
        string path = dir.File("features.safetensors");
        var (code, output, error) = CliRunner.Run("inspect", "features", tiny.Directory, Path.Combine(TestPaths.Fixtures, "images", "table_1600x900.png"),
            "--max-tiles", "12", "--out", path);
        Assert.True(code == 0, error);
        Assert.Contains("grid 4x2, 9 tiles -> image_features [9, 256, 64]", output);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal("4", file.Metadata["cols"]);
        Assert.Equal("2", file.Metadata["rows"]);
        Assert.Equal("true", file.Metadata["thumbnail"]);
        using var golden = Goldens.Open(Goldens.ModelA("vision_table_1600x900.safetensors"));
        Assert.Equal(golden.GetInfo("vit_embeds").Shape, file.GetInfo("image_features").Shape);
        Assert.InRange(Goldens.MaxAbsDiff(file.ReadFloat32("image_features"), golden.ReadFloat32("vit_embeds")), 0, 1e-4);
    }

    [Fact]
    public void Features_refuses_a_tile_limit_out_of_range_with_exit_code_2()
    {
        var (code, _, error) = CliRunner.Run("inspect", "features", tiny.Directory, Path.Combine(TestPaths.Fixtures, "images", "exact_448x448.png"),
            "--max-tiles", "41", "--out", "unused.safetensors");
        Assert.Equal(InternVit.SK.Cli.CliApp.InputError, code);
        Assert.Contains("--max-tiles must be between 1 and 40", error);
    }

    [Fact]
    public void Logits_writes_the_golden_logits_of_every_position()
    {
        using var golden = Goldens.Open(Goldens.ModelA("llm_raw_text.safetensors"));
        long[] ids = golden.ReadInt64("input_ids");
        using var dir = new TempDir();
        File.WriteAllText(dir.File("ids.json"), JsonSerializer.Serialize(ids));
        string path = dir.File("logits.safetensors");
        var (code, output, error) = CliRunner.Run("inspect", "logits", tiny.Directory, "--ids-file", dir.File("ids.json"), "--out", path);
        Assert.True(code == 0, error);
        Assert.Contains($"{ids.Length} positions x 151674 logits", output);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(ids, file.ReadInt64("input_ids"));
        Assert.Equal(golden.GetInfo("logits").Shape, file.GetInfo("logits").Shape);
        Assert.InRange(Goldens.MaxAbsDiff(file.ReadFloat32("logits"), golden.ReadFloat32("logits")), 0, 1e-3);
    }
}
