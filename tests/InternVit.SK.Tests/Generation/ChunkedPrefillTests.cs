using InternVit.SK.Generation;
using InternVit.SK.Tests.Export;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Generation;

/// <summary>
/// A prompt longer than <see cref="LanguageModel.PrefillChunk"/> runs as consecutive chunks over the growing KV cache.
/// The tiny checkpoint's prompts are shorter than the CPU's 512, so these tests open their own model and set a chunk
/// of a few positions: the logits must still be the goldens', whichever positions are kept, and generation the
/// reference tokens.
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ChunkedPrefillTests(ConvertedTinyModel tiny, ITestOutputHelper output)
{
    [Fact]
    public void The_cpu_runs_long_prompts_in_chunks_of_512()
    {
        using var model = InternVLModel.Open(tiny.Directory);
        Assert.Equal(LanguageModel.CpuPrefillChunk, model.Language.PrefillChunk);
        Assert.Equal(512, LanguageModel.CpuPrefillChunk);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Chunks_give_the_reference_logits_of_every_kept_position(int chunk)
    {
        using var golden = Goldens.Open(Goldens.ModelA("llm_raw_text.safetensors"));
        int[] ids = Array.ConvertAll(golden.ReadInt64("input_ids"), x => (int)x);
        float[] expected = golden.ReadFloat32("logits");
        using var model = InternVLModel.Open(tiny.Directory);
        int vocab = model.Manifest.Decoder.VocabSize;
        float[] whole = await model.GetLogitsAsync(ids, logitsToKeep: 0);
        model.Language.PrefillChunk = chunk;
        Assert.True(ids.Length > 2 * chunk, "the prompt spans several chunks");

        // Every position, then suffixes that start inside a chunk, on a chunk boundary and in the last chunk.
        foreach (int keep in new SortedSet<int> { 0, ids.Length - chunk - 1, ids.Length - 2 * chunk, 2, 1 })
        {
            float[] logits = await model.GetLogitsAsync(ids, logitsToKeep: keep);
            int kept = keep == 0 ? ids.Length : keep;
            Assert.Equal(kept * vocab, logits.Length);
            var reference = expected.AsSpan((ids.Length - kept) * vocab);
            double toGolden = Goldens.MaxAbsDiff(logits, reference), toWhole = Goldens.MaxAbsDiff(logits, whole.AsSpan((ids.Length - kept) * vocab));
            output.WriteLine($"chunk {chunk}, keep {kept}/{ids.Length}: max |diff| {toGolden:E2} to the golden, {toWhole:E2} to one run");
            Assert.InRange(toGolden, 0, 1e-3);
            Assert.InRange(toWhole, 0, 1e-4);
        }
    }

    [Fact]
    public async Task Generation_over_a_chunked_prompt_gives_the_reference_tokens_and_keeps_the_prompt_for_the_next_turn()
    {
        using var model = InternVLModel.Open(tiny.Directory);
        model.Language.PrefillChunk = 7;
        var (question, images, expected, _) = GenerationGoldenTests.Case("one_image");
        var options = new GenerationOptions { MaxNewTokens = expected.Length };

        var conversation = model.StartConversation();
        var first = await conversation.GenerateAsync(question, images, options);
        Assert.Equal(expected, first.TokenIds);
        Assert.True(first.Usage.PromptTokens > 10 * model.Language.PrefillChunk, "the image prompt spans many chunks");

        // The next turn continues from the kept cache that the chunks filled: the same tokens as a model without caches.
        var second = await conversation.GenerateAsync("And the colours?", [], options);
        Assert.InRange(second.Usage.CachedPromptTokens, first.Usage.PromptTokens, second.Usage.PromptTokens - 1);
        using var off = InternVLModel.Open(tiny.Directory, new InternVLModelOptions { ImageCacheBytes = 0, PromptCacheEntries = 0, PromptCacheBytes = 0 });
        var reference = off.StartConversation();
        await reference.GenerateAsync(question, GenerationGoldenTests.Case("one_image").Images, options);
        Assert.Equal((await reference.GenerateAsync("And the colours?", [], options)).TokenIds, second.TokenIds);
    }
}
