using System.Text.Json.Nodes;

namespace InternVit.SK.Tests.Cli;

/// <summary><c>internvl ask</c> and <c>internvl chat</c> on the tiny checkpoint, loaded straight from its original folder.</summary>
public sealed class AskCommandTests
{
    private static string Image(string file) => Path.Combine(TestPaths.Fixtures, "images", file);

    [Fact]
    public void Ask_converts_the_original_checkpoint_once_and_answers_like_the_reference()
    {
        using var cache = new TempDir();
        var (code, output, error) = CliRunner.Run("ask", TestPaths.TinyCheckpoint, "--cache-dir", cache.Path, "--json", "--max-tokens", "24",
            "--image", Image("exact_448x448.png"), "--image", Image("photo_webp_800x450.webp"), "Image-1: <image>\nImage-2: <image>\nDescribe the two images.");
        Assert.True(code == 0, error);
        Assert.Contains("[3/6] vision graph", error); // converted on first use, progress on stderr
        var json = JsonNode.Parse(output)!;
        var golden = Generation.GenerationGoldenTests.Case("two_images");
        Assert.Equal(golden.Expected, json["token_ids"]!.AsArray().Select(x => (int)x!));
        Assert.Equal((int)golden.Golden["seq_len"]!, (int)json["usage"]!["prompt_tokens"]!);
        Assert.Equal((int)golden.Golden["num_img_context_tokens"]!, (int)json["usage"]!["image_tokens"]!);
        Assert.Equal("length", (string?)json["finish_reason"]);
        Assert.True((double)json["timings"]!["prefill_ms"]! > 0);

        // Second use: the cached conversion is reused (no progress), and plain output is the streamed text.
        (code, output, error) = CliRunner.Run("ask", TestPaths.TinyCheckpoint, "--cache-dir", cache.Path, "Hello, who are you?");
        Assert.True(code == 0, error);
        Assert.DoesNotContain("vision graph", error);
        Assert.Equal((string)Generation.GenerationGoldenTests.Case("text_only").Golden["generated_text_skip_special"]!, output.TrimEnd('\n'));
        Assert.Single(Directory.GetDirectories(cache.Path));
    }

    [Fact]
    public void Ask_think_puts_the_thinking_prompt_before_the_system_prompt_and_reports_the_reasoning_apart()
    {
        var (code, output, error) = CliRunner.Run("ask", ConvertedModelPath.Value, "--think", "--system", "Be brief.", "--json", "--max-tokens", "6", "Hello, who are you?");
        Assert.True(code == 0, error);
        var json = JsonNode.Parse(output)!;
        string query = $"<|im_start|>system\n{InternVit.SK.Generation.ThinkingMode.SystemPrompt}\nBe brief.<|im_end|>\n<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n";
        Assert.Equal(Text.TokenizerFixtures.Slow.Encode(query).Length, (int)json["usage"]!["prompt_tokens"]!);
        // The tiny model's random answer opens with no think block: no reasoning, and the text is the whole decoded output.
        Assert.True(json.AsObject().ContainsKey("reasoning"));
        Assert.Null(json["reasoning"]);
        int[] ids = json["token_ids"]!.AsArray().Select(x => (int)x!).ToArray();
        Assert.Equal(Text.TokenizerFixtures.Slow.Decode(ids, skipSpecialTokens: true), (string?)json["text"]);
    }

    [Fact]
    public void Ask_reports_an_unreadable_image_with_exit_code_2()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("bad.png"), "not an image");
        var model = ConvertedModelPath.Value;
        var (code, _, error) = CliRunner.Run("ask", model, "--image", dir.File("bad.png"), "What is it?");
        Assert.Equal(2, code);
        Assert.Contains("bad.png", error);
    }

    [Fact]
    public void Chat_attaches_images_to_the_next_turn_and_keeps_the_history()
    {
        string input = $"/image {Image("table_1600x900.png")}\nDescribe the image.\nAnd now?\n/exit\n";
        var (code, output, error) = CliRunner.RunWithInput(input, "chat", ConvertedModelPath.Value, "--max-tokens", "3");
        Assert.True(code == 0, error);
        Assert.Contains("(image 1 attached to the next turn: table_1600x900.png)", output);
        // The first turn is the one_image golden: its first tokens are ".getSelectionModel" three times.
        Assert.Contains(".getSelectionModel.getSelectionModel.getSelectionModel\n", output);
        Assert.Equal(5, output.Split("> ").Length); // four prompts: /image, two questions, /exit
    }

    /// <summary>One converted copy of the tiny checkpoint for the CLI tests that only need a model folder.</summary>
    private static readonly Lazy<string> ConvertedModelPath = new(() =>
    {
        string path = Path.Combine(Path.GetTempPath(), "internvl-tests-cli-model-" + Guid.NewGuid().ToString("N"));
        Assert.Equal(0, CliRunner.Run("convert", TestPaths.TinyCheckpoint, path).Code);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return path;
    });
}
