using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using InternVit.SK.Checkpoints;
using InternVit.SK.Cli;
using InternVit.SK.Tests.Imaging;

namespace InternVit.SK.Tests.Cli;

public class InspectTilesCommandTests
{
    private static (int Code, string Output, string Error) Run(params string[] args) => CliRunner.Run(args);

    [Theory]
    [InlineData("table_1600x900", new string[0], 4, 2, 9, true)]
    [InlineData("table_1600x900", new[] { "--no-thumbnail" }, 4, 2, 8, false)]
    [InlineData("wide_3000x200", new[] { "--max-tiles", "6" }, 6, 1, 7, true)]
    [InlineData("exact_448x448", new string[0], 1, 1, 1, false)]
    public void Json_gives_the_grid(string id, string[] options, int cols, int rows, int tiles, bool thumbnail)
    {
        var (code, output, error) = Run(["inspect", "tiles", PreprocessGoldens.ImagePath(id), "--json", .. options]);
        Assert.Equal(0, code);
        Assert.Equal("", error);
        var json = JsonNode.Parse(output)!;
        Assert.Equal(cols, (int)json["cols"]!);
        Assert.Equal(rows, (int)json["rows"]!);
        Assert.Equal(tiles, (int)json["tiles"]!);
        Assert.Equal(thumbnail, (bool)json["thumbnail"]!);
    }

    [Fact]
    public void Out_writes_the_golden_tiles_and_their_pixel_values()
    {
        using var dir = new TempDir();
        string path = dir.File("tiles.safetensors");
        var (code, output, _) = Run("inspect", "tiles", PreprocessGoldens.ImagePath("small_50x30"), "--out", path);
        Assert.Equal(0, code);
        Assert.Contains("3x2", output);
        Assert.Contains("7 (6 + thumbnail)", output);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal([7L, 448, 448, 3], file.GetInfo("tiles_u8").Shape);
        Assert.Equal([7L, 3, 448, 448], file.GetInfo("pixel_values").Shape);
        var tiles = file.GetBytes("tiles_u8");
        var hashes = PreprocessGoldens.TileHashes("small_50x30");
        const int tile = 448 * 448 * 3;
        for (int t = 0; t < 7; t++) Assert.Equal(hashes[t], PreprocessGoldens.Sha256(tiles.Slice(t * tile, tile)));
        var values = MemoryMarshal.Cast<byte, float>(file.GetBytes("pixel_values"));
        // Tile 6 (the thumbnail), blue channel, pixel (x=10, y=20).
        int u8 = tiles[6 * tile + (20 * 448 + 10) * 3 + 2];
        Assert.Equal(((float)u8 / 255f - 0.406f) / 0.225f, values[(6 * 3 + 2) * 448 * 448 + 20 * 448 + 10]);
    }

    [Fact]
    public void A_broken_image_is_one_line_on_stderr_with_exit_code_2()
    {
        using var dir = new TempDir();
        string path = dir.File("broken.jpg");
        byte[] data = File.ReadAllBytes(PreprocessGoldens.ImagePath("photo_jpeg_1024x768"));
        File.WriteAllBytes(path, data[..1000]);
        var (code, output, error) = Run("inspect", "tiles", path);
        Assert.Equal(CliApp.InputError, code);
        Assert.Equal("", output);
        Assert.StartsWith("internvl: " + path + ": ", error);
        Assert.Contains("ends early", error);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public void Max_tiles_above_40_is_refused()
    {
        var (code, _, error) = Run("inspect", "tiles", PreprocessGoldens.ImagePath("small_50x30"), "--max-tiles", "41");
        Assert.NotEqual(0, code);
        Assert.Contains("--max-tiles must be between 1 and 40", error);
    }
}
