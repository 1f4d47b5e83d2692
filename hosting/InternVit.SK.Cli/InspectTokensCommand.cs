using System.CommandLine;
using System.Text;
using System.Text.Json;
using InternVit.SK.Text;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl inspect tokens --tokenizer DIR [TEXT] [--text-file F] [--decode] [--skip-special] [--json] [--batch F.jsonl]</c>.
/// <list type="bullet">
/// <item>Encode (default): the input is text from <c>--text-file</c> (UTF-8; invalid bytes become U+FFFD), else the
/// TEXT argument, else standard input. Prints the ids separated by spaces; <c>--json</c> prints
/// <c>{"ids":[...],"tokens":[...]}</c>.</item>
/// <item><c>--decode</c>: the input is a JSON array of ids; prints the text (<c>--json</c>: <c>{"text":"..."}</c>).</item>
/// <item><c>--batch F.jsonl</c>: one JSON string per line in, one JSON id array per line out (with <c>--decode</c>:
/// id arrays in, strings out), so a corpus runs in one process.</item>
/// </list>
/// </summary>
internal static class InspectTokensCommand
{
    private static readonly JsonSerializerOptions Compact = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var tokenizer = new Option<DirectoryInfo>("--tokenizer") { Description = "A folder with tokenizer.json, or with vocab.json + merges.txt + tokenizer_config.json (a model folder).", Required = true };
        var text = new Argument<string?>("TEXT") { Description = "The input (text, or with --decode a JSON id array); read from standard input when absent.", Arity = ArgumentArity.ZeroOrOne };
        var textFile = new Option<FileInfo?>("--text-file") { Description = "Read the input from this UTF-8 file." };
        var decode = new Option<bool>("--decode") { Description = "The input is a JSON array of ids; print the text." };
        var skipSpecial = new Option<bool>("--skip-special") { Description = "With --decode: leave out special tokens (skip_special_tokens)." };
        var json = new Option<bool>("--json") { Description = "Print JSON: {\"ids\",\"tokens\"} or {\"text\"}." };
        var batch = new Option<FileInfo?>("--batch") { Description = "JSON Lines in (one string, or id array with --decode, per line), one result per line out." };
        var command = new Command("tokens", "Encode text to token ids, or decode ids to text, with a checkpoint's tokenizer.")
        {
            tokenizer, text, textFile, decode, skipSpecial, json, batch,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var bpe = Qwen2Tokenizer.Load(parse.GetRequiredValue(tokenizer).FullName);
            bool decoding = parse.GetValue(decode), skip = parse.GetValue(skipSpecial);
            try
            {
                if (parse.GetValue(batch) is { } batchFile)
                {
                    RunBatch(bpe, batchFile.FullName, decoding, skip, output);
                    return 0;
                }
                if (decoding)
                {
                    string decoded = bpe.Decode(ParseIds(ReadInputText(parse.GetValue(textFile), parse.GetValue(text))), skip);
                    output.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(new { text = decoded }, Compact) : decoded);
                    return 0;
                }
                int[] ids = bpe.EncodeUtf8(ReadInputBytes(parse.GetValue(textFile), parse.GetValue(text)));
                if (parse.GetValue(json))
                    output.WriteLine(JsonSerializer.Serialize(new { ids, tokens = ids.Select(id => bpe.IdToToken(id)) }, Compact));
                else
                    output.WriteLine(string.Join(' ', ids));
                return 0;
            }
            catch (JsonException e)
            {
                parse.InvocationConfiguration.Error.WriteLine($"internvl: the input is not what --decode/--batch expects ({e.Message})");
                return CliApp.InputError;
            }
        });
        return command;
    }

    private static void RunBatch(Qwen2Tokenizer bpe, string file, bool decoding, bool skip, TextWriter output)
    {
        var ids = new List<int>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(file))
        {
            lineNumber++;
            if (line.Length == 0) continue;
            if (decoding)
            {
                output.WriteLine(JsonSerializer.Serialize(bpe.Decode(ParseIds(line), skip), Compact));
                continue;
            }
            string text = JsonSerializer.Deserialize<string>(line) ?? throw new JsonException($"line {lineNumber} is null, not a JSON string");
            ids.Clear();
            bpe.Encode(text, ids);
            output.WriteLine(JsonSerializer.Serialize(ids, Compact));
        }
    }

    private static int[] ParseIds(string json) => JsonSerializer.Deserialize<int[]>(json) ?? throw new JsonException("null is not an id array");

    private static byte[] ReadInputBytes(FileInfo? file, string? argument)
    {
        if (file is not null) return File.ReadAllBytes(file.FullName);
        if (argument is not null) return Encoding.UTF8.GetBytes(argument);
        using var stdin = Console.OpenStandardInput();
        using var buffer = new MemoryStream();
        stdin.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static string ReadInputText(FileInfo? file, string? argument) => Encoding.UTF8.GetString(ReadInputBytes(file, argument));
}
