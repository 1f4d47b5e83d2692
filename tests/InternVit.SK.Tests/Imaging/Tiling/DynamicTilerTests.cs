using System.Text.Json;
using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Tiling;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Imaging.Tiling;

public class DynamicTilerTests(ITestOutputHelper output)
{
    private static readonly ImageDecodeOptions AsReference = ImageDecodeOptions.Default with { ApplyExifOrientation = false };

    /// <summary>All 15340 rows of grid_cases.json: [width, height, max_num, cols, rows, num_tiles_incl_thumbnail, flags].</summary>
    [Fact]
    public void Grid_table_is_identical_to_the_official_rule()
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(PreprocessGoldens.Folder, "grid_cases.json")));
        var tilers = new Dictionary<int, DynamicTiler>();
        int rows = 0, ties = 0;
        var mismatches = new List<string>();
        foreach (var row in json.RootElement.GetProperty("cases").EnumerateArray())
        {
            int width = row[0].GetInt32(), height = row[1].GetInt32(), max = row[2].GetInt32();
            if (!tilers.TryGetValue(max, out var tiler)) tilers[max] = tiler = new DynamicTiler(new TilingOptions { MaxTiles = max });
            var grid = tiler.Plan(width, height);
            var expected = (row[3].GetInt32(), row[4].GetInt32(), row[5].GetInt32());
            if ((grid.Columns, grid.Rows, grid.TileCount) != expected && mismatches.Count < 10)
                mismatches.Add($"{width}x{height} max {max}: got {grid.Columns}x{grid.Rows}/{grid.TileCount}, expected {expected}");
            rows++;
            if ((row[6].GetInt32() & 1) != 0) ties++;
        }
        output.WriteLine($"{rows} rows, {ties} decided by the area tie-break");
        Assert.Empty(mismatches);
        Assert.Equal(15340, rows);
        Assert.Equal(2832, ties);
    }

    [Theory]
    [InlineData(1600, 900, 4, 2)]  // 16:9 ties (2,1)/(4,2); area 1.44M > 0.5*448^2*8 so 4x2
    [InlineData(633, 633, 1, 1)]   // square: 633^2 = 400689 is not above 401408 (2x2 threshold)
    [InlineData(634, 634, 2, 2)]
    [InlineData(8000, 8000, 3, 3)] // with max 12: 3x3
    public void Tie_break_prefers_more_tiles_only_for_large_images(int width, int height, int columns, int rows)
    {
        var grid = new DynamicTiler().Plan(width, height);
        Assert.Equal((columns, rows), (grid.Columns, grid.Rows));
        Assert.Equal(columns * rows != 1, grid.HasThumbnail);
    }

    public static TheoryData<string> LosslessImages => new()
    {
        "receipt_576x1400", "table_1600x900", "paragraph_gray_1240x1754", "tinytext_palette_800x200", "wide_3000x200",
        "small_50x30", "exact_448x448", "large_4000x3000", "rgba_700x700", "palette_trns_500x500", "rgb16_256x384",
    };

    /// <summary>
    /// Decode + tile every lossless source and compare each uint8 tile's SHA-256 with the golden (equal hashes mean
    /// 100% of pixels equal). gray16 is left out on purpose: see ImageDecoderTests.Gray16_keeps_the_high_byte_where_pillow_clips.
    /// </summary>
    [Theory]
    [MemberData(nameof(LosslessImages))]
    public void Lossless_sources_give_the_golden_tiles_exactly(string id)
    {
        var meta = PreprocessGoldens.Meta(id);
        using var image = ImageDecoder.DecodeFile(PreprocessGoldens.ImagePath(id), AsReference);
        var tiler = new DynamicTiler();
        var tiles = new byte[tiler.MaxPixelValuesLength];
        var grid = tiler.TileBytes(image, tiles);
        Assert.Equal(((int)meta["grid"]!["cols"]!, (int)meta["grid"]!["rows"]!), (grid.Columns, grid.Rows));
        Assert.Equal((int)meta["num_tiles"]!, grid.TileCount);
        Assert.Equal((bool)meta["has_thumbnail"]!, grid.HasThumbnail);
        var hashes = PreprocessGoldens.TileHashes(id);
        for (int t = 0; t < grid.TileCount; t++)
            Assert.True(hashes[t] == PreprocessGoldens.Sha256(tiles.AsSpan(t * tiler.FloatsPerTile, tiler.FloatsPerTile)), $"{id} tile {t} differs");
    }

    /// <summary>
    /// The lossy sources end to end (our decoder + our resizer) against the tiles of Pillow's own decode
    /// (decoded_rgb through our resizer, which BicubicResizerTests shows gives the golden hashes): at least 99.9% of
    /// samples equal and none more than 1 level apart (the acceptance bar; today all tiles are bit-identical).
    /// </summary>
    [Theory]
    [InlineData("photo_jpeg_1024x768")]
    [InlineData("photo_webp_800x450")]
    [InlineData("exif_rot6_600x400")]
    public void Lossy_sources_give_the_golden_tiles_within_one_level(string id)
    {
        var tiler = new DynamicTiler();
        var (shape, rgb) = PreprocessGoldens.ReadGz(id + ".decoded_rgb.safetensors.gz", "decoded_rgb");
        using var pillowDecode = DecodedImage.FromRgb24((int)shape[1], (int)shape[0], rgb);
        var expected = new byte[tiler.MaxPixelValuesLength];
        int n = tiler.TileBytes(pillowDecode, expected).TileCount;

        using var image = ImageDecoder.DecodeFile(PreprocessGoldens.ImagePath(id), AsReference);
        var tiles = new byte[tiler.MaxPixelValuesLength];
        var grid = tiler.TileBytes(image, tiles);
        Assert.Equal(n, grid.TileCount);
        int length = n * tiler.FloatsPerTile;
        var (equal, max) = PreprocessGoldens.Compare(tiles.AsSpan(0, length), expected.AsSpan(0, length));
        var hashes = PreprocessGoldens.TileHashes(id);
        int identical = 0;
        for (int t = 0; t < n; t++)
            if (hashes[t] == PreprocessGoldens.Sha256(tiles.AsSpan(t * tiler.FloatsPerTile, tiler.FloatsPerTile))) identical++;
        output.WriteLine($"{id}: {equal}/{length} samples equal ({100.0 * equal / length:0.####}%), max difference {max}; {identical}/{n} tiles bit-identical to Pillow's");
        Assert.True(equal >= length * 0.999, $"{equal} of {length} equal");
        Assert.True(max <= 1, $"max difference {max}");
    }

    /// <summary>
    /// pixel_values [N,3,448,448] against the golden tiles: ((float)u8/255f - mean)/std for every value, computed
    /// here from the golden tiles_u8, and the golden pixel_values statistics (min, max, mean).
    /// </summary>
    [Theory]
    [InlineData("table_1600x900")]
    [InlineData("palette_trns_500x500")]
    public void Pixel_values_follow_from_the_golden_tiles_bit_exactly(string id)
    {
        var (shape, golden) = PreprocessGoldens.ReadGz(id + ".tiles_u8.safetensors.gz", "tiles_u8");
        float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
        using var image = ImageDecoder.DecodeFile(PreprocessGoldens.ImagePath(id));
        var tiler = new DynamicTiler();
        var pixelValues = new float[tiler.MaxPixelValuesLength];
        pixelValues.AsSpan().Fill(float.NaN);
        var grid = tiler.Tile(image, pixelValues);
        int n = (int)shape[0], s = 448;
        Assert.Equal(n, grid.TileCount);
        double sum = 0;
        float min = float.MaxValue, max = float.MinValue;
        for (int t = 0; t < n; t++)
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < s * s; i++)
                {
                    float expected = ((float)golden[(t * s * s + i) * 3 + c] / 255f - mean[c]) / std[c];
                    float actual = pixelValues[(t * 3 + c) * s * s + i];
                    if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual))
                        Assert.Fail($"tile {t} channel {c} index {i}: {actual} != {expected}");
                    sum += actual;
                    min = Math.Min(min, actual);
                    max = Math.Max(max, actual);
                }
        Assert.True(float.IsNaN(pixelValues[n * tiler.FloatsPerTile]) || n * tiler.FloatsPerTile == pixelValues.Length);
        var stats = PreprocessGoldens.Meta(id)["pixel_values_stats"]!;
        Assert.Equal((float)(double)stats["min"]!, min);
        Assert.Equal((float)(double)stats["max"]!, max);
        Assert.Equal((double)stats["mean_f64"]!, sum / ((long)n * 3 * s * s), 9);
    }

    [Fact]
    public void Options_shape_the_grid()
    {
        var noThumbnail = new DynamicTiler(new TilingOptions { UseThumbnail = false }).Plan(1600, 900);
        Assert.Equal(new TileGrid(4, 2, false), noThumbnail);
        Assert.Equal(8, noThumbnail.TileCount);
        var forty = new DynamicTiler(new TilingOptions { MaxTiles = 40 }).Plan(8000, 8000);
        Assert.Equal(new TileGrid(6, 6, true), forty);
        var atLeastTwo = new DynamicTiler(new TilingOptions { MinTiles = 2, MaxTiles = 6 }).Plan(448, 448);
        Assert.True(atLeastTwo.GridTiles >= 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DynamicTiler(new TilingOptions { MaxTiles = 41 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DynamicTiler(new TilingOptions { MinTiles = 3, MaxTiles = 2 }));
        var small = new DynamicTiler();
        using var image = DecodedImage.FromRgb24(2, 1, [1, 2, 3, 4, 5, 6]);
        Assert.Throws<ArgumentException>(() => small.Tile(image, new float[small.FloatsPerTile]));
    }
}
