using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Cli;
using InternVit.SK.Tests.Text;

namespace InternVit.SK.Tests.Cli;

public class InspectTokensCommandTests
{
    private static (int Code, string Output, string Error) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void Encodes_the_argument_to_ids()
    {
        var (code, output, error) = Run("inspect", "tokens", "--tokenizer", TestPaths.TinyCheckpoint, "Hello, world! 你好");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Equal("9707 11 1879 0 220 108386", output.Trim());
    }

    [Fact]
    public void Json_output_has_ids_and_tokens()
    {
        var (code, output, _) = Run("inspect", "tokens", "--tokenizer", TokenizerFixtures.FastFolderPath, "--json", "<img>x y");
        Assert.Equal(0, code);
        var json = JsonNode.Parse(output)!;
        Assert.Equal([151665, 87, 379], json["ids"]!.AsArray().Select(n => (int)n!).ToArray());
        Assert.Equal(["<img>", "x", "Ġy"], json["tokens"]!.AsArray().Select(n => (string)n!).ToArray());
    }

    [Fact]
    public void Text_file_input_and_decode_round_trip()
    {
        var golden = TokenizerFixtures.GoldenCases["ja_mixed"];
        using var dir = new TempDir();
        File.WriteAllText(dir.File("in.txt"), golden.Text);
        var (_, ids, _) = Run("inspect", "tokens", "--tokenizer", TestPaths.TinyCheckpoint, "--text-file", dir.File("in.txt"));
        Assert.Equal(string.Join(' ', golden.Ids), ids.Trim());
        File.WriteAllText(dir.File("ids.json"), JsonSerializer.Serialize(golden.Ids));
        var (code, text, _) = Run("inspect", "tokens", "--tokenizer", TestPaths.TinyCheckpoint, "--decode", "--json", "--text-file", dir.File("ids.json"));
        Assert.Equal(0, code);
        Assert.Equal(golden.Decoded, (string?)JsonNode.Parse(text)!["text"]);
    }

    [Fact]
    public void Decode_can_skip_special_tokens()
    {
        var (_, kept, _) = Run("inspect", "tokens", "--tokenizer", TestPaths.TinyCheckpoint, "--decode", "[9707, 151645, 151657]");
        var (_, skipped, _) = Run("inspect", "tokens", "--tokenizer", TestPaths.TinyCheckpoint, "--decode", "--skip-special", "[9707, 151645, 151657]");
        Assert.Equal("Hello<|im_end|><tool_call>", kept.TrimEnd('\n'));
        Assert.Equal("Hello<tool_call>", skipped.TrimEnd('\n'));
    }

    [Fact]
    public void Batch_writes_one_id_array_per_line()
    {
        var cases = TokenizerFixtures.GoldenCases.Values.ToArray();
        using var dir = new TempDir();
        File.WriteAllLines(dir.File("in.jsonl"), cases.Select(c => JsonSerializer.Serialize(c.Text)));
        var (code, output, error) = Run("inspect", "tokens", "--tokenizer", TestPaths.TinyCheckpoint, "--batch", dir.File("in.jsonl"));
        Assert.Equal(0, code);
        Assert.Equal("", error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(cases.Length, lines.Length);
        for (int i = 0; i < cases.Length; i++) Assert.Equal(cases[i].Ids, JsonSerializer.Deserialize<int[]>(lines[i]));

        File.WriteAllLines(dir.File("ids.jsonl"), cases.Select(c => JsonSerializer.Serialize(c.Ids)));
        (code, output, _) = Run("inspect", "tokens", "--tokenizer", TestPaths.TinyCheckpoint, "--batch", dir.File("ids.jsonl"), "--decode");
        Assert.Equal(0, code);
        lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < cases.Length; i++) Assert.Equal(cases[i].Decoded, JsonSerializer.Deserialize<string>(lines[i]));
    }

    [Theory]
    [InlineData("no tokenizer files", "no tokenizer.json and no vocab.json + merges.txt")]
    [InlineData("bad ids", "not what --decode/--batch expects")]
    public void Bad_input_is_one_line_on_stderr_with_exit_code_2(string what, string message)
    {
        using var dir = new TempDir();
        var (code, output, error) = what == "bad ids"
            ? Run("inspect", "tokens", "--tokenizer", TestPaths.TinyCheckpoint, "--decode", "[1, \"x\"]")
            : Run("inspect", "tokens", "--tokenizer", dir.Path, "text");
        Assert.Equal(CliApp.InputError, code);
        Assert.Equal("", output);
        Assert.StartsWith("internvl: ", error);
        Assert.Contains(message, error);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public void Bench_reports_throughput_on_the_mixed_text()
    {
        string text = BenchTokensCommand.BuildMixedText();
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(text), 1 << 20, (1 << 20) + 64 * 1024);
        Assert.Contains(TokenizerFixtures.GoldenCases["zh_paragraph"].Text, text);
        Assert.Contains("namespace InternVit.SK", text);
        var (code, output, error) = Run("bench", "tokens", "--tokenizer", TestPaths.TinyCheckpoint, "--iterations", "1");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Matches(@"encode\s+[0-9.]+ MB/s median of 1", output);
        Assert.Matches(@"loaded in [0-9.]+ ms", output);
    }
}
