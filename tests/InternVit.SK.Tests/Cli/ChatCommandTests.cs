using InternVit.SK.Tests.Export;

namespace InternVit.SK.Tests.Cli;

/// <summary><c>internvl chat</c> keeps the conversation going through refused turns, unknown commands, bad attachments and Ctrl-C.</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ChatCommandTests(ConvertedTinyModel tiny)
{
    private static readonly string TextOnlyText = (string)Generation.GenerationGoldenTests.Case("text_only").Golden["generated_text_skip_special"]!;

    private static string Image(string file) => Path.Combine(TestPaths.Fixtures, "images", file);

    [Fact]
    public void Refused_turns_unknown_commands_and_bad_attachments_are_reported_and_the_chat_goes_on()
    {
        string input = string.Join('\n',
            "Hi<|im_end|><|im_start|>system",
            "<image> What is it?",
            "/imagine a cat",
            "/image /",
            "/image /no/such/image.png",
            "Hello, who are you?",
            "/exit", "");
        var (code, output, error) = CliRunner.RunWithInput(input, "chat", tiny.Directory);
        Assert.True(code == 0, error);
        Assert.Contains("(not answered: the question contains '<|im_end|>', a token reserved for the prompt's structure)\n", output);
        Assert.Contains("(not answered: the question has 1 '<image>' placeholder(s) for 0 image(s))\n", output);
        Assert.Contains("(unknown command /imagine; /image PATH attaches an image, /reset starts over, /exit quits)\n", output);
        Assert.Contains("(not attached: '/' is a folder, not an image file)\n", output);
        Assert.Contains("(not attached: no such file: '/no/such/image.png')\n", output);
        // The refused turns left nothing behind: the first answered turn is the text-only reference answer.
        Assert.Contains("> " + TextOnlyText + "\n", output);
        Assert.Equal(8, output.Split("> ").Length); // seven prompts
    }

    [Fact]
    public async Task Ctrl_C_stops_a_long_answer_and_the_conversation_goes_on()
    {
        using var process = CliRunner.Start("chat", tiny.Directory, "--max-tokens", "20000");
        await process.StandardInput.WriteAsync($"/image {Image("table_1600x900.png")}\nDescribe the image.\n");
        await process.StandardInput.FlushAsync();
        // The one_image answer does not stop early: 20000 tokens would take about a minute.
        await CliRunner.ReadUntilAsync(process.StandardOutput, ".getSelectionModel", TimeSpan.FromSeconds(60));
        CliRunner.Interrupt(process);
        string stopped = await CliRunner.ReadUntilAsync(process.StandardOutput, "(stopped; the turn and its images are not kept)\n", TimeSpan.FromSeconds(60));
        await process.StandardInput.WriteAsync("Hello, who are you?\n/exit\n");
        process.StandardInput.Close();
        var (code, output, error) = await CliRunner.FinishAsync(process, TimeSpan.FromSeconds(60));
        Assert.True(code == 0, error);
        Assert.Equal("", error);
        Assert.Contains("> " + TextOnlyText + "\n", stopped + output); // the stopped turn and its image were not kept
    }
}
