using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Checkpoints;
using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Tiling;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl inspect tiles IMAGE [--max-tiles N] [--no-thumbnail] [--no-exif-orientation] [--out F.safetensors] [--json]</c>:
/// decode an image, show the tile grid InternVL's dynamic tiling picks, and optionally save the tiles
/// (<c>tiles_u8</c> [N,S,S,3] uint8 and <c>pixel_values</c> [N,3,S,S] float32).
/// </summary>
internal static class InspectTilesCommand
{
    public static Command Create()
    {
        var image = new Argument<FileInfo>("IMAGE") { Description = "A JPEG, PNG, WebP, GIF or BMP image." };
        var maxTiles = new Option<int>("--max-tiles") { Description = $"Most grid tiles, 1..{TilingOptions.MaxSupportedTiles} (default 12).", DefaultValueFactory = _ => 12 };
        maxTiles.Validators.Add(result =>
        {
            int value = result.GetValueOrDefault<int>();
            if (value < 1 || value > TilingOptions.MaxSupportedTiles) result.AddError($"--max-tiles must be between 1 and {TilingOptions.MaxSupportedTiles}, not {value}.");
        });
        var noThumbnail = new Option<bool>("--no-thumbnail") { Description = "Do not append the whole-image thumbnail tile." };
        var noExif = new Option<bool>("--no-exif-orientation") { Description = "Ignore the EXIF orientation, as the official preprocessing does." };
        var output = new Option<FileInfo?>("--out") { Description = "Write tiles_u8 and pixel_values to this safetensors file." };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of text." };
        var command = new Command("tiles", "Decode an image and show (or save) its InternVL tiles.") { image, maxTiles, noThumbnail, noExif, output, json };
        command.SetAction(parse =>
        {
            var file = parse.GetRequiredValue(image);
            var decodeOptions = ImageDecodeOptions.Default with { ApplyExifOrientation = !parse.GetValue(noExif) };
            var tiler = new DynamicTiler(new TilingOptions { MaxTiles = parse.GetValue(maxTiles), UseThumbnail = !parse.GetValue(noThumbnail) });
            using var decoded = ImageDecoder.DecodeFile(file.FullName, decodeOptions);
            var grid = tiler.Plan(decoded.Width, decoded.Height);
            var target = parse.GetValue(output);
            if (target is not null) Save(target.FullName, decoded, tiler);

            var o = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                var node = new JsonObject
                {
                    ["cols"] = grid.Columns,
                    ["rows"] = grid.Rows,
                    ["tiles"] = grid.TileCount,
                    ["thumbnail"] = grid.HasThumbnail,
                    ["width"] = decoded.Width,
                    ["height"] = decoded.Height,
                    ["format"] = decoded.SourceFormat?.ToString(),
                };
                o.WriteLine(node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                o.WriteLine($"{file.Name}: {decoded.SourceFormat} {decoded.Width}x{decoded.Height}");
                o.WriteLine($"  grid       {grid.Columns}x{grid.Rows} (cols x rows), tile {tiler.Options.ImageSize}px");
                o.WriteLine($"  tiles      {grid.TileCount}" + (grid.HasThumbnail ? $" ({grid.GridTiles} + thumbnail)" : ""));
                if (target is not null) o.WriteLine($"  saved      {target.FullName}");
            }
            return 0;
        });
        return command;
    }

    private static void Save(string path, DecodedImage image, DynamicTiler tiler)
    {
        var grid = tiler.Plan(image.Width, image.Height);
        int size = tiler.Options.ImageSize, n = grid.TileCount, perTile = tiler.FloatsPerTile;
        var tiles = new byte[n * perTile];
        tiler.TileBytes(image, tiles);
        var pixelValues = new float[n * perTile];
        tiler.Tile(image, pixelValues);
        SafetensorsWriter.Write(path,
        [
            SafetensorsEntry.FromBytes("tiles_u8", SafetensorsDtype.U8, [n, size, size, 3], tiles),
            SafetensorsEntry.FromFloat32("pixel_values", [n, 3, size, size], pixelValues),
        ], new Dictionary<string, string> { ["grid"] = $"{grid.Columns}x{grid.Rows}", ["thumbnail"] = grid.HasThumbnail ? "true" : "false" });
    }
}
