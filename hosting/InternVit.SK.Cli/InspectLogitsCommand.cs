using System.CommandLine;
using System.Text.Json;
using InternVit.SK.Checkpoints;
using InternVit.SK.Generation;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl inspect logits MODEL_DIR --ids-file F.json --out F.safetensors</c>: the logits of every position of a
/// token-id sequence (no image), from one decoder pass.
/// </summary>
internal static class InspectLogitsCommand
{
    public static Command Create()
    {
        var model = new Argument<DirectoryInfo>("MODEL_DIR") { Description = "A converted model folder, or an original InternVL checkpoint (converted once into the cache)." };
        var idsFile = new Option<FileInfo>("--ids-file") { Description = "A JSON array of token ids.", Required = true };
        var outFile = new Option<FileInfo>("--out") { Description = "Safetensors file for input_ids [L] and logits [L, vocab].", Required = true };
        var command = new Command("logits", "Run the decoder on token ids and save the logits of every position.") { model, idsFile, outFile };
        command.SetAction(async (parse, cancellationToken) =>
        {
            int[] ids = ReadIds(parse.GetRequiredValue(idsFile).FullName);
            using var vlm = await InternVLModel.LoadAsync(parse.GetRequiredValue(model).FullName, progress: new LineProgress(parse.InvocationConfiguration.Error),
                cancellationToken: cancellationToken);
            float[] logits = await vlm.GetLogitsAsync(ids, cancellationToken: cancellationToken);

            int vocab = vlm.Manifest.Decoder.VocabSize;
            string path = parse.GetRequiredValue(outFile).FullName;
            SafetensorsWriter.Write(path,
            [
                SafetensorsEntry.FromInt64("input_ids", [ids.Length], Array.ConvertAll(ids, x => (long)x)),
                SafetensorsEntry.FromFloat32("logits", [ids.Length, vocab], logits),
            ]);
            parse.InvocationConfiguration.Output.WriteLine($"{ids.Length} positions x {vocab} logits -> {path}");
            return 0;
        });
        return command;
    }

    private static int[] ReadIds(string path)
    {
        int[]? ids;
        try
        {
            ids = JsonSerializer.Deserialize<int[]>(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: expected a JSON array of token ids ({e.Message})", e);
        }
        if (ids is null || ids.Length == 0) throw new InvalidDataException($"{path}: the id list is empty");
        return ids;
    }
}
