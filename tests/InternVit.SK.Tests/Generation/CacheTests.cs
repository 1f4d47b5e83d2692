using InternVit.SK.Generation;
using InternVit.SK.Imaging;
using InternVit.SK.Tests.Export;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Generation;

/// <summary>
/// The image-feature cache and prefix reuse across requests (issue 23): a repeated image is not encoded again, a request
/// that starts like a kept one prefills only the rest, and either way the greedy tokens are those of the goldens and of
/// a model with both caches off; the caches stay within their bounds under concurrent load.
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class CacheTests(ConvertedTinyModel tiny, ITestOutputHelper output)
{
    private static readonly InternVLModelOptions CachesOff = new() { ImageCacheBytes = 0, PromptCacheEntries = 0, PromptCacheBytes = 0 };

    private static string ImagePath(string name) => Directory.GetFiles(Path.Combine(TestPaths.Fixtures, "images"), name + ".*").Single();

    [Fact]
    public async Task A_repeated_image_is_encoded_once_and_gives_the_reference_tokens()
    {
        using var model = InternVLModel.Open(tiny.Directory);
        var (question, images, expected, _) = GenerationGoldenTests.Case("one_image");
        var options = new GenerationOptions { MaxNewTokens = 24 };

        var first = await model.StartConversation().GenerateAsync(question, images, options);
        // The same picture again, as other bytes objects (a client sending it again): a hash and a lookup.
        var again = ImageInput.FromBytes(await File.ReadAllBytesAsync(ImagePath("table_1600x900")));
        var second = await model.StartConversation("Another system prompt.").GenerateAsync(question, [again], options);

        Assert.Equal(expected, first.TokenIds);
        Assert.Equal(0, first.Usage.CachedImages);
        Assert.True(first.Timings.Vision > TimeSpan.Zero);
        Assert.Equal(1, second.Usage.CachedImages);
        Assert.Equal(1, second.Usage.Images);
        Assert.Equal(TimeSpan.Zero, second.Timings.Vision);
        Assert.Equal(1, model.ImageCache.Count);
        var alone = await OffModelAnswer("Another system prompt.", question, [again], options);
        Assert.Equal(alone.TokenIds, second.TokenIds);
        output.WriteLine($"preprocess {first.Timings.Preprocess.TotalMilliseconds:F1} -> {second.Timings.Preprocess.TotalMilliseconds:F1} ms, " +
                         $"vision {first.Timings.Vision.TotalMilliseconds:F1} -> {second.Timings.Vision.TotalMilliseconds:F1} ms");
    }

    [Fact]
    public async Task The_same_image_twice_in_one_request_is_encoded_once()
    {
        using var model = InternVLModel.Open(tiny.Directory);
        byte[] bytes = await File.ReadAllBytesAsync(ImagePath("exact_448x448"));
        const string question = "Image-1: <image>\nImage-2: <image>\nAre they the same?";
        var options = new GenerationOptions { MaxNewTokens = 8 };
        var result = await model.StartConversation().GenerateAsync(question, [ImageInput.FromBytes(bytes), ImageInput.FromBytes(bytes.ToArray())], options);
        var alone = await OffModelAnswer(null, question, [ImageInput.FromBytes(bytes), ImageInput.FromBytes(bytes)], options);

        Assert.Equal(2, result.Usage.Images);
        Assert.Equal(1, result.Usage.CachedImages);
        Assert.Equal(1, model.ImageCache.Count);
        Assert.Equal(alone.TokenIds, result.TokenIds);
    }

    [Fact]
    public async Task Requests_that_bring_the_same_new_image_at_once_encode_it_once()
    {
        using var model = InternVLModel.Open(tiny.Directory);
        byte[] bytes = await File.ReadAllBytesAsync(ImagePath("table_1600x900"));
        var (question, _, expected, _) = GenerationGoldenTests.Case("one_image");
        var options = new GenerationOptions { MaxNewTokens = expected.Length };

        // Four clients with their own copy of the bytes, started together: all miss the cache before the vision stage.
        using var start = new Barrier(4);
        var requests = new Task<GenerationResult>[4];
        for (int i = 0; i < requests.Length; i++)
            requests[i] = Task.Run(() =>
            {
                var image = ImageInput.FromBytes(bytes.ToArray());
                start.SignalAndWait();
                return model.StartConversation().GenerateAsync(question, [image], options);
            });
        var results = await Task.WhenAll(requests);

        foreach (var result in results) Assert.Equal(expected, result.TokenIds);
        Assert.Equal(requests.Length - 1, results.Sum(r => r.Usage.CachedImages));
        Assert.Equal(1, model.ImageCache.Count);
    }

    [Fact]
    public void The_feature_key_covers_the_content_and_every_option_that_changes_the_features()
    {
        byte[] bytes = File.ReadAllBytes(ImagePath("table_1600x900"));
        var tiling = new InternVit.SK.Imaging.Tiling.TilingOptions { MaxTiles = 12 };
        var key = ImageFeatureCache.KeyOf(ImageInput.FromBytes(bytes), null, tiling);
        Assert.NotNull(key);
        // The same bytes from a file or another array: the same key.
        Assert.Equal(key, ImageFeatureCache.KeyOf(ImageInput.FromFile(ImagePath("table_1600x900")), null, tiling));
        Assert.Equal(key, ImageFeatureCache.KeyOf(ImageInput.FromBytes(bytes.ToArray()), ImageDecodeOptions.Default, tiling));
        var changed = bytes.ToArray();
        changed[^3] ^= 1;
        var others = new[]
        {
            ImageFeatureCache.KeyOf(ImageInput.FromBytes(changed), null, tiling),
            ImageFeatureCache.KeyOf(ImageInput.FromBytes(bytes), null, tiling with { MaxTiles = 6 }),
            ImageFeatureCache.KeyOf(ImageInput.FromBytes(bytes), null, tiling with { UseThumbnail = false }),
            ImageFeatureCache.KeyOf(ImageInput.FromBytes(bytes), null, tiling with { MinTiles = 2 }),
            ImageFeatureCache.KeyOf(ImageInput.FromBytes(bytes), null, tiling with { ImageSize = 224 }),
            ImageFeatureCache.KeyOf(ImageInput.FromBytes(bytes), new ImageDecodeOptions { ApplyExifOrientation = false }, tiling),
            ImageFeatureCache.KeyOf(ImageInput.FromBytes(bytes), new ImageDecodeOptions { CompositeAlphaOnWhite = true }, tiling),
            ImageFeatureCache.KeyOf(ImageInput.FromBytes(bytes), new ImageDecodeOptions { MaxPixels = 1_000_000 }, tiling),
        };
        Assert.All(others, other => Assert.NotEqual(key, other));
        Assert.Equal(others.Length, others.Distinct().Count());
        // Over the decode limit: no key (the decoder refuses it).
        Assert.Null(ImageFeatureCache.KeyOf(ImageInput.FromBytes(bytes), new ImageDecodeOptions { MaxEncodedBytes = bytes.Length - 1 }, tiling));

        // Decoded pixels: keyed by size and pixels.
        using var decoded = ImageDecoder.Decode(bytes);
        var pixels = decoded.Pixels.ToArray();
        using var same = DecodedImage.FromRgb24(decoded.Width, decoded.Height, pixels);
        pixels[100] ^= 1;
        using var other = DecodedImage.FromRgb24(decoded.Width, decoded.Height, pixels);
        var pixelKey = ImageFeatureCache.KeyOf(ImageInput.FromImage(decoded), null, tiling);
        Assert.Equal(pixelKey, ImageFeatureCache.KeyOf(ImageInput.FromImage(same), null, tiling));
        Assert.NotEqual(pixelKey, ImageFeatureCache.KeyOf(ImageInput.FromImage(other), null, tiling));
        Assert.NotEqual(key, pixelKey);
    }

    [Fact]
    public async Task Follow_up_turns_sent_statelessly_reuse_the_prefix_and_give_the_tokens_of_a_run_without_caches()
    {
        using var model = InternVLModel.Open(tiny.Directory);
        using var off = InternVLModel.Open(tiny.Directory, CachesOff);
        var (question, _, expected, _) = GenerationGoldenTests.Case("one_image");
        string[] questions = [question, "What colour is it?", "Describe it again, in more words."];
        // The last turn asks for a longer answer: its cache must grow past the kept one's capacity.
        int[] limits = [24, 24, 600];
        var historyOn = new List<ConversationTurn>();
        var historyOff = new List<ConversationTurn>();
        ImageInput Photo() => ImageInput.FromBytes(File.ReadAllBytes(ImagePath("table_1600x900")));
        int previousPrompt = 0;
        for (int turn = 0; turn < questions.Length; turn++)
        {
            var options = new GenerationOptions { MaxNewTokens = limits[turn] };
            // Like an OpenAI client: the whole history each time, the image as new bytes each time.
            async Task<GenerationResult> Ask(InternVLModel on, List<ConversationTurn> history)
            {
                var conversation = on.StartConversation();
                foreach (var past in history) conversation.AddTurn(past.Question, past.Images, past.Answer);
                var result = await conversation.GenerateAsync(questions[turn], turn == 0 ? [Photo()] : [], options);
                history.Add(conversation.History[^1] with { Images = turn == 0 ? [Photo()] : [] });
                return result;
            }
            var withCaches = await Ask(model, historyOn);
            var without = await Ask(off, historyOff);

            output.WriteLine($"turn {turn + 1}: {withCaches.Usage.PromptTokens} prompt tokens, {withCaches.Usage.CachedPromptTokens} from the cache, " +
                             $"{withCaches.Usage.CachedImages}/{withCaches.Usage.Images} images cached, {withCaches.Usage.CompletionTokens} generated");
            Assert.Equal(without.TokenIds, withCaches.TokenIds);
            Assert.Equal(without.Usage.PromptTokens, withCaches.Usage.PromptTokens);
            Assert.Equal(0, without.Usage.CachedPromptTokens);
            Assert.Equal(0, without.Usage.CachedImages);
            if (turn == 0)
            {
                Assert.Equal(expected, withCaches.TokenIds);
            }
            else
            {
                Assert.Equal(1, withCaches.Usage.CachedImages);
                // At least the whole earlier prompt, image included, came from the kept cache.
                Assert.InRange(withCaches.Usage.CachedPromptTokens, previousPrompt, withCaches.Usage.PromptTokens - 1);
            }
            previousPrompt = withCaches.Usage.PromptTokens;
        }
    }

    [Fact]
    public async Task Turns_of_one_conversation_reuse_the_prefix_and_give_the_tokens_of_a_run_without_caches()
    {
        using var model = InternVLModel.Open(tiny.Directory);
        using var off = InternVLModel.Open(tiny.Directory, CachesOff);
        var (question, images, expected, _) = GenerationGoldenTests.Case("one_image");
        var on = model.StartConversation();
        var without = off.StartConversation();
        var options = new GenerationOptions { MaxNewTokens = 24 };
        var first = await on.GenerateAsync(question, images, options);
        Assert.Equal(expected, first.TokenIds);
        await without.GenerateAsync(question, images, options);
        var second = await on.GenerateAsync("And what else?", null, options);
        var reference = await without.GenerateAsync("And what else?", null, options);

        Assert.Equal(reference.TokenIds, second.TokenIds);
        Assert.True(second.Usage.CachedPromptTokens >= first.Usage.PromptTokens, $"{second.Usage.CachedPromptTokens} cached of {second.Usage.PromptTokens}");
        Assert.Equal(0, reference.Usage.CachedPromptTokens);
    }

    [Fact]
    public async Task Another_image_under_the_same_token_ids_reuses_only_the_positions_before_it()
    {
        using var model = InternVLModel.Open(tiny.Directory);
        var (question, _, _, golden) = GenerationGoldenTests.Case("one_image");
        using var decoded = ImageDecoder.DecodeFile(ImagePath("table_1600x900"));
        var pixels = decoded.Pixels.ToArray();
        for (int i = 0; i < pixels.Length; i += 7) pixels[i] = (byte)(255 - pixels[i]);
        using var other = DecodedImage.FromRgb24(decoded.Width, decoded.Height, pixels); // same size: the same prompt ids
        var options = new GenerationOptions { MaxNewTokens = 24 };

        var first = await model.StartConversation().GenerateAsync(question, [ImageInput.FromImage(decoded)], options);
        var second = await model.StartConversation().GenerateAsync(question, [ImageInput.FromImage(other)], options);
        var alone = await OffModelAnswer(null, question, [ImageInput.FromImage(other)], options);

        int firstImagePosition = (int)golden["img_context_first_last_pos"]![0]!;
        Assert.Equal(first.Usage.PromptTokens, second.Usage.PromptTokens);
        Assert.Equal(firstImagePosition, second.Usage.CachedPromptTokens);
        Assert.Equal(alone.TokenIds, second.TokenIds);
        // The same request again: everything but the last position comes from the cache.
        var repeat = await model.StartConversation().GenerateAsync(question, [ImageInput.FromImage(other)], options);
        Assert.Equal(repeat.Usage.PromptTokens - 1, repeat.Usage.CachedPromptTokens);
        Assert.Equal(alone.TokenIds, repeat.TokenIds);
    }

    [Fact]
    public async Task Under_concurrent_load_the_caches_never_hold_more_than_their_bounds()
    {
        // Bounds that fit about two of this load's images and KV caches, so eviction runs all the time.
        long imageBound = 2L * 7 * 256 * 64 * sizeof(float) + 1;
        using var probe = InternVLModel.Open(tiny.Directory, CachesOff);
        long kvBound = 2 * KvCache.ByteSize(probe.Language.Layers, probe.Language.KeyValueHeads, probe.Language.HeadDim, 1024) + 1;
        using var model = InternVLModel.Open(tiny.Directory, new InternVLModelOptions { ImageCacheBytes = imageBound, PromptCacheEntries = 3, PromptCacheBytes = kvBound });
        long maxImageBytes = 0, maxKvBytes = 0;
        int maxKvEntries = 0;
        using var stop = new CancellationTokenSource();
        var watcher = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                maxImageBytes = Math.Max(maxImageBytes, model.ImageCache.Bytes);
                maxKvBytes = Math.Max(maxKvBytes, model.PrefixCache.Bytes);
                maxKvEntries = Math.Max(maxKvEntries, model.PrefixCache.Count);
                Thread.SpinWait(100);
            }
        });
        var random = new Random(3);
        var images = Enumerable.Range(0, 5).Select(i =>
        {
            var rgb = new byte[(600 + 97 * i) * 500 * 3];
            random.NextBytes(rgb);
            return (Width: 600 + 97 * i, Rgb: rgb);
        }).ToArray();
        // Four clients, four requests each: later requests find what earlier ones kept (or evicted).
        async Task<GenerationUsage> Ask(int i)
        {
            var (width, rgb) = images[i % images.Length];
            using var image = DecodedImage.FromRgb24(width, 500, rgb);
            var conversation = model.StartConversation();
            if (i % 2 == 1) conversation.AddTurn("<image>\nWhat is this?", [ImageInput.FromImage(image)], "A picture.");
            var result = await conversation.GenerateAsync(i % 2 == 1 ? $"Tell me more, {i}." : "<image>\nWhat is this?", i % 2 == 1 ? null : [ImageInput.FromImage(image)],
                new GenerationOptions { MaxNewTokens = 8, MaxTiles = 6 });
            return result.Usage;
        }
        var requests = Enumerable.Range(0, 4).Select(client => Task.Run(async () =>
        {
            var usage = new List<GenerationUsage>();
            for (int i = 0; i < 4; i++) usage.Add(await Ask(client * 4 + i));
            return usage;
        })).ToArray();
        var usages = (await Task.WhenAll(requests)).SelectMany(u => u).ToArray();
        stop.Cancel();
        await watcher;

        output.WriteLine($"image cache: peak {maxImageBytes} of {imageBound} bytes; prefix cache: peak {maxKvBytes} of {kvBound} bytes, {maxKvEntries} of 3 entries; " +
                         $"{usages.Sum(u => u.CachedImages)} cached images, {usages.Sum(u => u.CachedPromptTokens)} cached prompt tokens");
        Assert.InRange(maxImageBytes, 1, imageBound);
        Assert.InRange(maxKvBytes, 1, kvBound);
        Assert.InRange(maxKvEntries, 1, 3);
        Assert.InRange(model.ImageCache.Bytes, 1, imageBound);
        Assert.Contains(usages, u => u.CachedImages > 0);
        Assert.Contains(usages, u => u.CachedPromptTokens > 0);
    }

    [Fact]
    public async Task The_chat_client_reports_the_prompt_tokens_that_came_from_the_cache()
    {
        using var client = new InternVit.SK.Plugin.InternVLChatClient(InternVLModel.Open(tiny.Directory), ownsModel: true);
        using var off = new InternVit.SK.Plugin.InternVLChatClient(InternVLModel.Open(tiny.Directory, CachesOff), ownsModel: true);
        Microsoft.Extensions.AI.ChatMessage[] messages = [new(Microsoft.Extensions.AI.ChatRole.User, "Hello, who are you?")];
        var options = new Microsoft.Extensions.AI.ChatOptions { MaxOutputTokens = 8 };
        var first = await client.GetResponseAsync(messages, options);
        var second = await client.GetResponseAsync(messages, options);
        var without = await off.GetResponseAsync(messages, options);
        var withoutAgain = await off.GetResponseAsync(messages, options);

        Assert.Equal(0, first.Usage!.CachedInputTokenCount);
        Assert.Equal(second.Usage!.InputTokenCount - 1, second.Usage.CachedInputTokenCount); // all but the last position
        Assert.Equal(0, withoutAgain.Usage!.CachedInputTokenCount);
        Assert.Equal(without.Text, second.Text);
        Assert.Equal(first.Text, second.Text);
    }

    private async Task<GenerationResult> OffModelAnswer(string? system, string question, ImageInput[] images, GenerationOptions options)
    {
        using var off = InternVLModel.Open(tiny.Directory, CachesOff);
        return await off.StartConversation(system).GenerateAsync(question, images, options);
    }
}
