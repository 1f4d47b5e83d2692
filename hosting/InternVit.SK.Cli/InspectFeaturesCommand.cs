using System.CommandLine;
using InternVit.SK.Checkpoints;
using InternVit.SK.Generation;
using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Tiling;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl inspect features MODEL_DIR IMAGE [--max-tiles N] [--no-exif-orientation] --out F.safetensors</c>:
/// image → tiles → vision graph, saving <c>image_features</c> [tiles, tokens_per_tile, hidden].
/// </summary>
internal static class InspectFeaturesCommand
{
    public static Command Create()
    {
        var model = new Argument<DirectoryInfo>("MODEL_DIR") { Description = "A converted model folder, or an original InternVL checkpoint (converted once into the cache)." };
        var image = new Argument<FileInfo>("IMAGE") { Description = "A JPEG, PNG, WebP, GIF or BMP image." };
        var maxTiles = new Option<int?>("--max-tiles") { Description = $"Most grid tiles, 1..{TilingOptions.MaxSupportedTiles} (default: the model's)." };
        var noExif = new Option<bool>("--no-exif-orientation") { Description = "Ignore the EXIF orientation, as the official preprocessing does." };
        var outFile = new Option<FileInfo>("--out") { Description = "Safetensors file for image_features.", Required = true };
        var command = new Command("features", "Encode an image with the vision graph and save the image features.") { model, image, maxTiles, noExif, outFile };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var vlm = await InternVLModel.LoadAsync(parse.GetRequiredValue(model).FullName, progress: new LineProgress(parse.InvocationConfiguration.Error),
                cancellationToken: cancellationToken);
            int tiles = parse.GetValue(maxTiles) ?? vlm.DefaultMaxTiles;
            if (tiles < 1 || tiles > TilingOptions.MaxSupportedTiles)
                throw new InvalidDataException($"--max-tiles must be between 1 and {TilingOptions.MaxSupportedTiles}, not {tiles}");
            using var decoded = ImageDecoder.DecodeFile(parse.GetRequiredValue(image).FullName,
                ImageDecodeOptions.Default with { ApplyExifOrientation = !parse.GetValue(noExif) });
            var features = await vlm.EncodeImageAsync(ImageInput.FromImage(decoded), tiles, cancellationToken);

            var grid = features.Grid;
            string path = parse.GetRequiredValue(outFile).FullName;
            SafetensorsWriter.Write(path, [SafetensorsEntry.FromFloat32("image_features", [grid.TileCount, features.TokensPerTile, features.HiddenSize], features.Values)],
                new Dictionary<string, string> { ["cols"] = grid.Columns.ToString(), ["rows"] = grid.Rows.ToString(), ["thumbnail"] = grid.HasThumbnail ? "true" : "false" });
            parse.InvocationConfiguration.Output.WriteLine(
                $"grid {grid.Columns}x{grid.Rows}, {grid.TileCount} tiles -> image_features [{grid.TileCount}, {features.TokensPerTile}, {features.HiddenSize}] -> {path}");
            return 0;
        });
        return command;
    }
}
