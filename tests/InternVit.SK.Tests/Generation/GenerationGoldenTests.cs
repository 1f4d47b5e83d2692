using System.Text.Json.Nodes;
using InternVit.SK.Generation;
using InternVit.SK.Tests.Export;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Generation;

/// <summary>
/// The whole path — image files → decode → tiles → vision graph → prompt → generation — against the golden greedy
/// generations of tests/fixtures/goldens/model_a and model_c (the official chat() on the tiny checkpoints).
/// </summary>
public abstract class GenerationGoldens(ConvertedCheckpoint tiny, ITestOutputHelper output)
{
    private InternVLModel Model => tiny.Model;

    public static TheoryData<string> Prompts => new() { "one_image", "two_images", "text_only" };

    private (string Question, ImageInput[] Images, int[] Expected, JsonNode Golden) Case(string prompt) => Case(tiny.Checkpoint, prompt);

    /// <summary>A prompt of the golden manifest of tiny checkpoint <paramref name="checkpoint"/> ("a" or "c").</summary>
    internal static (string Question, ImageInput[] Images, int[] Expected, JsonNode Golden) Case(string checkpoint, string prompt)
    {
        var golden = JsonNode.Parse(File.ReadAllText(Goldens.Model(checkpoint, "manifest.json")))!["prompts"]![prompt]!;
        var images = golden["images"]!.AsArray()
            .Select(id => ImageInput.FromFile(Directory.GetFiles(Path.Combine(TestPaths.Fixtures, "images"), (string)id! + ".*").Single())).ToArray();
        int[] expected = golden["generated_ids"]!.AsArray().Select(x => (int)x!).ToArray();
        return ((string)golden["question"]!, images, expected, golden);
    }

    [Theory]
    [MemberData(nameof(Prompts))]
    public async Task Greedy_generation_from_image_files_reproduces_the_reference_tokens(string prompt)
    {
        var (question, images, expected, golden) = Case(prompt);
        var result = await Model.StartConversation().GenerateAsync(question, images, new GenerationOptions { MaxNewTokens = 24 });

        Assert.Equal(expected, result.TokenIds);
        Assert.Equal((string)golden["generated_text_skip_special"]!, result.Text);
        Assert.Equal((int)golden["seq_len"]!, result.Usage.PromptTokens);
        Assert.Equal((int)golden["num_img_context_tokens"]!, result.Usage.ImageTokens);
        Assert.Equal(expected.Length, result.Usage.CompletionTokens);
        // The stop token is the manifest's EOS, read from the checkpoint's config (151645 <|im_end|> in A and C).
        Assert.Equal(Model.StopTokenIds.Contains(expected[^1]) ? FinishReason.Stop : FinishReason.Length, result.FinishReason);
        var t = result.Timings;
        output.WriteLine($"{prompt}: preprocess {t.Preprocess.TotalMilliseconds:F1} ms, vision {t.Vision.TotalMilliseconds:F1} ms, prefill {t.Prefill.TotalMilliseconds:F1} ms, " +
                         $"decode {t.Decode.TotalMilliseconds:F1} ms, first token {t.TimeToFirstToken.TotalMilliseconds:F1} ms");
    }

    [Theory]
    [MemberData(nameof(Prompts))]
    public async Task Streaming_gives_the_same_text_and_tokens_as_the_whole_answer(string prompt)
    {
        var (question, images, _, _) = Case(prompt);
        var options = new GenerationOptions { MaxNewTokens = 24 };
        var whole = await Model.StartConversation().GenerateAsync(question, images, options);

        var text = new System.Text.StringBuilder();
        var ids = new List<int>();
        GenerationResult? final = null;
        await foreach (var update in Model.StartConversation().StreamAsync(question, images, options))
        {
            text.Append(update.Text);
            if (update.TokenId is int id) ids.Add(id);
            final ??= update.Result;
        }
        Assert.Equal(whole.Text, text.ToString());
        Assert.NotNull(final);
        Assert.Equal(whole.Text, final.Text);
        // The stream shows a token per update; a final stop token ends the stream without text.
        Assert.Equal(whole.TokenIds.Where(x => !Model.StopTokenIds.Contains(x)), ids);
    }

    [Fact]
    public async Task A_question_without_a_placeholder_gets_one_as_chat_does()
    {
        var (_, images, expected, _) = Case("one_image");
        var result = await Model.StartConversation().GenerateAsync("Describe the image.", images, new GenerationOptions { MaxNewTokens = 24 });
        Assert.Equal(expected, result.TokenIds);
    }

    [Fact]
    public async Task Two_conversations_at_once_give_what_they_give_one_after_the_other()
    {
        var options = new GenerationOptions { MaxNewTokens = 24 };
        var (q1, i1, _, _) = Case("one_image");
        var (q2, i2, _, _) = Case("two_images");
        var (q3, _, _, _) = Case("text_only");
        var alone = new[]
        {
            await Model.StartConversation().GenerateAsync(q1, i1, options),
            await Model.StartConversation().GenerateAsync(q2, i2, options),
            await Model.StartConversation().GenerateAsync(q3, null, options),
        };
        var together = await Task.WhenAll(
            Task.Run(() => Model.StartConversation().GenerateAsync(q1, i1, options)),
            Task.Run(() => Model.StartConversation().GenerateAsync(q2, i2, options)),
            Task.Run(() => Model.StartConversation().GenerateAsync(q3, null, options)));
        for (int i = 0; i < alone.Length; i++)
        {
            Assert.Equal(alone[i].TokenIds, together[i].TokenIds);
            Assert.Equal(alone[i].Text, together[i].Text);
        }
    }
}

[Collection(ConvertedTinyModelCollection.Name)]
public sealed class GenerationGoldenTests(ConvertedTinyModel tiny, ITestOutputHelper output) : GenerationGoldens(tiny, output)
{
    /// <summary>A prompt of checkpoint A's golden manifest.</summary>
    internal static (string Question, ImageInput[] Images, int[] Expected, JsonNode Golden) Case(string prompt) => Case("a", prompt);
}

/// <summary>Checkpoint C (InternVL3.5, Qwen3): receipt (11 tiles), rgba + exact (5 + 1), and text_only ending with EOS at step 12.</summary>
[Collection(ConvertedTinyModelCCollection.Name)]
public sealed class GenerationGoldenTestsC(ConvertedTinyModelC tiny, ITestOutputHelper output) : GenerationGoldens(tiny, output);

/// <summary>Checkpoint A in the Hugging Face-native layout (internvl-tiny-a-hf): the same generations as A.</summary>
[Collection(ConvertedTinyHfModelCollection.Name)]
public sealed class HfGenerationGoldenTests(ConvertedTinyHfModel tiny, ITestOutputHelper output) : GenerationGoldens(tiny, output);

/// <summary>Checkpoint C rewritten into the Hugging Face-native layout: the same generations as C.</summary>
[Collection(ConvertedTinyHfModelCCollection.Name)]
public sealed class HfGenerationGoldenTestsC(ConvertedTinyHfModelC tiny, ITestOutputHelper output) : GenerationGoldens(tiny, output);
