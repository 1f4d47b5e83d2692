using System.Text.Json;
using InternVit.SK.Checkpoints;
using InternVit.SK.Text;

namespace InternVit.SK.Tests.Text;

/// <summary>The prompts of goldens/model_a: query text and input_ids of the reference run, rebuilt from the question.</summary>
public class ModelAPromptTests
{
    private static string Folder => Path.Combine(TestPaths.Fixtures, "goldens", "model_a");

    [Theory]
    [InlineData("text_only", "Hello, who are you?", new int[0])]
    [InlineData("one_image", "Describe the image.", new[] { 9 })]
    [InlineData("two_images", "Image-1: <image>\nImage-2: <image>\nDescribe the two images.", new[] { 1, 3 })]
    public void Prompt_and_input_ids_match_the_reference(string name, string question, int[] tiles)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, "manifest.json")));
        var reference = manifest.RootElement.GetProperty("prompts").GetProperty(name);
        var builder = PromptBuilder.ForCheckpoint(InternVLConfig.Load(TestPaths.TinyCheckpoint));

        var prompt = builder.Build(question, tiles);

        Assert.Equal(reference.GetProperty("question").GetString(), prompt.Question);
        Assert.Equal(reference.GetProperty("query").GetString(), prompt.Query);
        using var tensors = SafetensorsFile.Open(Path.Combine(Folder, reference.GetProperty("file").GetString()!));
        long[] expected = tensors.ReadInt64("input_ids");
        foreach (var form in TokenizerFixtures.Forms)
        {
            int[] ids = TokenizerFixtures.Form(form).Encode(prompt.Query);
            Assert.Equal(expected, ids.Select(id => (long)id).ToArray());
        }
        Assert.Equal(reference.GetProperty("seq_len").GetInt32(), expected.Length);
        Assert.Equal(reference.GetProperty("num_img_context_tokens").GetInt32(), prompt.ImageTokenCount);
    }

    [Fact]
    public void Reference_response_is_what_chat_would_return()
    {
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, "manifest.json")));
        var builder = PromptBuilder.ForCheckpoint(InternVLConfig.Load(TestPaths.TinyCheckpoint));
        foreach (var prompt in manifest.RootElement.GetProperty("prompts").EnumerateObject())
        {
            int[] generated = prompt.Value.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            string decoded = TokenizerFixtures.Fast.Decode(generated, skipSpecialTokens: true);
            Assert.Equal(prompt.Value.GetProperty("generated_text_skip_special").GetString(), decoded);
            Assert.Equal(prompt.Value.GetProperty("response_like_chat").GetString(), builder.ExtractResponse(decoded));
        }
    }
}
