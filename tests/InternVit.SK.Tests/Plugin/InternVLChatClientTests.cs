using InternVit.SK.ModelFolder;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Export;
using InternVit.SK.Generation;
using InternVit.SK.Plugin;
using InternVit.SK.Tests.Export;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Tests.Plugin;

/// <summary>
/// The IChatClient on the tiny checkpoint: content mapping against the golden greedy generations, streaming equal to
/// the whole response, history and system prompts equal to a conversation run directly, options, usage, finish
/// reasons, refusals and GetService.
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class InternVLChatClientTests(ConvertedTinyModel tiny)
{
    private static readonly string Images = Path.Combine(TestPaths.Fixtures, "images");

    private InternVLModel Model => tiny.Model;

    private InternVLChatClient Client(ImageSourceOptions? sources = null) => new(Model, new InternVLChatClientOptions { ImageSources = sources ?? new() });

    private static JsonNode Golden(string prompt) => JsonNode.Parse(File.ReadAllText(Goldens.ModelA("manifest.json")))!["prompts"]![prompt]!;

    private static DataContent Image(string file, string mediaType) => new(File.ReadAllBytes(Path.Combine(Images, file)), mediaType);

    private static ChatMessage[] TwoImages() =>
        [new(ChatRole.User, [Image("exact_448x448.png", "image/png"), Image("photo_webp_800x450.webp", "image/webp"), new TextContent("Describe the two images.")])];

    [Fact]
    public async Task Two_images_as_data_content_give_the_golden_answer()
    {
        var golden = Golden("two_images");
        using var client = Client();
        var response = await client.GetResponseAsync(TwoImages(), new ChatOptions { MaxOutputTokens = 24 });

        Assert.Equal((string)golden["generated_text_skip_special"]!, response.Text);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal((int)golden["seq_len"]!, response.Usage!.InputTokenCount);
        Assert.Equal(24, response.Usage.OutputTokenCount);
        Assert.Equal((int)golden["seq_len"]! + 24, response.Usage.TotalTokenCount);
        Assert.Equal((int)golden["num_img_context_tokens"]!, response.Usage.AdditionalCounts![InternVLChatClient.ImageTokensCount]);
        Assert.Equal(client.Metadata.DefaultModelId, response.ModelId);
        Assert.Single(response.Messages);
        Assert.Equal(ChatRole.Assistant, response.Messages[0].Role);
    }

    /// <summary>The PNG of the golden pair sent as a 24-bit BMP of the same pixels (image/bmp) gives the same answer.</summary>
    [Fact]
    public async Task A_bmp_of_the_same_pixels_gives_the_golden_answer()
    {
        using var png = InternVit.SK.Imaging.ImageDecoder.DecodeFile(Path.Combine(Images, "exact_448x448.png"));
        var bmp = new DataContent(Bmp24(png.Width, png.Height, png.Pixels), "image/bmp");
        using var client = Client();
        var response = await client.GetResponseAsync(
            [new(ChatRole.User, [bmp, Image("photo_webp_800x450.webp", "image/webp"), new TextContent("Describe the two images.")])],
            new ChatOptions { MaxOutputTokens = 24 });
        Assert.Equal((string)Golden("two_images")["generated_text_skip_special"]!, response.Text);
    }

    /// <summary>A bottom-up 24-bit BI_RGB BMP of RGB pixels.</summary>
    private static byte[] Bmp24(int width, int height, ReadOnlySpan<byte> rgb)
    {
        int stride = (width * 3 + 3) / 4 * 4, size = 54 + stride * height;
        var bmp = new byte[size];
        "BM"u8.CopyTo(bmp);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), size);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), height);
        System.Buffers.Binary.BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        System.Buffers.Binary.BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int s = (y * width + x) * 3, d = 54 + (height - 1 - y) * stride + x * 3;
                (bmp[d], bmp[d + 1], bmp[d + 2]) = (rgb[s + 2], rgb[s + 1], rgb[s]);
            }
        return bmp;
    }

    [Fact]
    public async Task A_text_question_gives_the_golden_answer_and_stops()
    {
        var golden = Golden("text_only");
        using var client = Client();
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, (string)golden["question"]!)], new ChatOptions { MaxOutputTokens = 24 });
        Assert.Equal((string)golden["generated_text_skip_special"]!, response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(0, response.Usage!.AdditionalCounts![InternVLChatClient.ImageTokensCount]);
    }

    [Fact]
    public async Task Placeholders_in_the_text_are_filled_in_order()
    {
        var golden = Golden("one_image");
        using var client = Client();
        var message = new ChatMessage(ChatRole.User, [new TextContent((string)golden["question"]!), Image("table_1600x900.png", "image/png")]);
        var response = await client.GetResponseAsync([message], new ChatOptions { MaxOutputTokens = 24 });
        Assert.Equal((string)golden["generated_text_skip_special"]!, response.Text);

        var mismatch = new ChatMessage(ChatRole.User, [new TextContent("<image>\n<image>\nTwo?"), Image("small_50x30.png", "image/png")]);
        Assert.Contains("placeholders", (await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([mismatch]))).Message);
    }

    [Fact]
    public async Task Streaming_equals_the_whole_response()
    {
        using var client = Client();
        var options = new ChatOptions { MaxOutputTokens = 24 };
        var whole = await client.GetResponseAsync(TwoImages(), options);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(TwoImages(), options)) updates.Add(update);

        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.True(updates.Count > 2);
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
        Assert.Single(updates.Select(u => u.MessageId).Distinct());
        Assert.NotNull(updates[0].ResponseId);
        // Only the last update carries the usage and the finish reason.
        Assert.All(updates[..^1], u => { Assert.Null(u.FinishReason); Assert.DoesNotContain(u.Contents, c => c is UsageContent); });
        var last = updates[^1];
        Assert.Equal(ChatFinishReason.Length, last.FinishReason);
        var usage = Assert.Single(last.Contents.OfType<UsageContent>()).Details;
        Assert.Equal(whole.Usage!.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(whole.Usage.AdditionalCounts![InternVLChatClient.ImageTokensCount], usage.AdditionalCounts![InternVLChatClient.ImageTokensCount]);
    }

    [Fact]
    public async Task History_with_an_image_in_an_earlier_turn_equals_the_conversation_run_directly()
    {
        var options = new GenerationOptions { MaxNewTokens = 12 };
        var image = ImageInput.FromFile(Path.Combine(Images, "exact_448x448.png"));
        var direct = Model.StartConversation();
        var first = await direct.GenerateAsync("Describe the image.", [image], options);
        var second = await direct.GenerateAsync("And the colours?", null, options);

        using var client = Client();
        ChatMessage[] messages =
        [
            new(ChatRole.User, [Image("exact_448x448.png", "image/png"), new TextContent("Describe the image.")]),
            new(ChatRole.Assistant, direct.History[0].Answer),
            new(ChatRole.User, "And the colours?"),
        ];
        var response = await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 12 });
        Assert.Equal(second.Text, response.Text);
        Assert.Equal(second.Usage.PromptTokens, response.Usage!.InputTokenCount);
        Assert.Equal(first.Usage.ImageTokens, response.Usage.AdditionalCounts![InternVLChatClient.ImageTokensCount]); // the earlier image is in the prompt
    }

    [Fact]
    public async Task System_messages_and_instructions_form_the_system_prompt_and_user_messages_merge()
    {
        var options = new GenerationOptions { MaxNewTokens = 12 };
        var expected = await Model.StartConversation("Be brief.\nAnswer in English.").GenerateAsync("Hello\nwho are you?", null, options);

        using var client = Client();
        ChatMessage[] messages = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Hello"), new(ChatRole.User, "who are you?")];
        var response = await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 12, Instructions = "Answer in English." });
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(expected.Usage.PromptTokens, response.Usage!.InputTokenCount);

        var request = await client.ToRequestAsync(messages, null, CancellationToken.None);
        Assert.Equal("Be brief.", request.SystemPrompt);
        Assert.Equal("Hello\nwho are you?", request.Question);
        Assert.Empty(request.History);
    }

    [Fact]
    public void Chat_options_map_to_generation_options()
    {
        using var client = Client();
        var mapped = client.ToGenerationOptions(new ChatOptions
        {
            MaxOutputTokens = 7, Temperature = 0.7f, TopP = 0.9f, TopK = 40, Seed = 42, StopSequences = ["END"],
            AdditionalProperties = new() { [InternVLChatClient.MaxTilesProperty] = JsonSerializer.SerializeToElement(3), [InternVLChatClient.RepetitionPenaltyProperty] = "1.1" },
        });
        Assert.Equal(7, mapped.MaxNewTokens);
        Assert.Equal(0.7f, mapped.Sampling.Temperature);
        Assert.Equal(0.9f, mapped.Sampling.TopP);
        Assert.Equal(40, mapped.Sampling.TopK);
        Assert.Equal(42, mapped.Sampling.Seed);
        Assert.Equal(1.1f, mapped.Sampling.RepetitionPenalty);
        Assert.Equal(["END"], mapped.StopSequences);
        Assert.Equal(3, mapped.MaxTiles);

        var defaults = client.ToGenerationOptions(null);
        Assert.Equal(512, defaults.MaxNewTokens);
        Assert.True(defaults.Sampling.IsGreedy);
        Assert.Null(defaults.MaxTiles);

        Assert.Throws<ArgumentException>(() => client.ToGenerationOptions(new ChatOptions { AdditionalProperties = new() { [InternVLChatClient.MaxTilesProperty] = 2.5 } }));
        Assert.Throws<ArgumentException>(() => client.ToGenerationOptions(new ChatOptions { AdditionalProperties = new() { [InternVLChatClient.MaxTilesProperty] = "many" } }));
        Assert.Throws<ArgumentOutOfRangeException>(() => client.ToGenerationOptions(new ChatOptions { TopP = 1.5f }));
        Assert.Throws<NotSupportedException>(() => client.ToGenerationOptions(new ChatOptions { ToolMode = ChatToolMode.RequireAny }));
        Assert.Throws<NotSupportedException>(() => client.ToGenerationOptions(new ChatOptions { ResponseFormat = ChatResponseFormat.Json }));
        // Tools with the auto mode and a model id are ignored (documented).
        var tools = client.ToGenerationOptions(new ChatOptions { Tools = [AIFunctionFactory.Create(() => 1, "one")], ModelId = "gpt-x" });
        Assert.Equal(512, tools.MaxNewTokens);
    }

    [Fact]
    public async Task Max_tiles_stop_sequences_and_seeds_reach_the_generation()
    {
        using var client = Client();
        var oneTile = await client.GetResponseAsync(TwoImages(), new ChatOptions
        {
            MaxOutputTokens = 2, AdditionalProperties = new() { [InternVLChatClient.MaxTilesProperty] = 1 },
        });
        Assert.Equal(2 * 256, oneTile.Usage!.AdditionalCounts![InternVLChatClient.ImageTokensCount]); // one tile per image

        // The golden text is "ห้า gin eco })(ห้า gin ..."; " eco" ends it.
        var stopped = await client.GetResponseAsync(TwoImages(), new ChatOptions { MaxOutputTokens = 24, StopSequences = [" eco"] });
        Assert.Equal("ห้า gin", stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);

        var sampled = new ChatOptions { MaxOutputTokens = 8, Temperature = 1f, TopK = 50, Seed = 7 };
        var a = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hello")], sampled);
        var b = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hello")], sampled);
        Assert.Equal(a.Text, b.Text);
    }

    [Fact]
    public async Task File_uris_are_read_only_under_the_allowed_roots()
    {
        using var dir = new TempDir();
        File.Copy(Path.Combine(Images, "exact_448x448.png"), dir.File("a.png"));
        using var client = Client(new ImageSourceOptions { AllowedRoots = [dir.Path] });
        var viaUri = await client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, [new UriContent(new Uri(dir.File("a.png")), "image/png"), new TextContent("Describe the image.")])], new ChatOptions { MaxOutputTokens = 6 });
        var viaData = await client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, [Image("exact_448x448.png", "image/png"), new TextContent("Describe the image.")])], new ChatOptions { MaxOutputTokens = 6 });
        Assert.Equal(viaData.Text, viaUri.Text);

        var outside = new UriContent(new Uri(Path.Combine(Images, "exact_448x448.png")), "image/png");
        var refused = await Assert.ThrowsAsync<ImageSourceException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, [outside])]));
        Assert.Equal(ImageSourceRefusal.NotAllowed, refused.Reason);
        using var noRoots = Client();
        Assert.Equal(ImageSourceRefusal.NotAllowed,
            (await Assert.ThrowsAsync<ImageSourceException>(() => noRoots.GetResponseAsync([new ChatMessage(ChatRole.User, [outside])]))).Reason);
    }

    public static TheoryData<string, Func<ChatMessage[]>, string> Refusals => new()
    {
        { "audio", () => [new(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "audio/wav"), new TextContent("Transcribe.")])], "audio/wav" },
        { "tiff", () => [new(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "image/tiff")])], "image/tiff" },
        { "unknown", () => [new(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "application/x-thing")])], "application/x-thing" },
        { "http uri", () => [new(ChatRole.User, [new UriContent("https://example.com/a.png", "image/png")])], "'https'" },
        { "function call", () => [new(ChatRole.User, "Hi"), new(ChatRole.Assistant, [new FunctionCallContent("c1", "locate")]), new(ChatRole.User, "Go on")], "FunctionCallContent" },
        { "tool role", () => [new(ChatRole.User, "Hi"), new(ChatRole.Tool, "42"), new(ChatRole.User, "Go on")], "role 'tool'" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Unsupported_content_is_refused_by_name(string what, Func<ChatMessage[]> messages, string named)
    {
        using var client = Client();
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(messages()));
        Assert.Contains(named, e.Message);
        _ = what;
    }

    [Fact]
    public async Task A_transcript_must_end_with_a_user_message()
    {
        using var client = Client();
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi"), new ChatMessage(ChatRole.Assistant, "Hello")]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.System, "Be brief.")]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.Assistant, "Hello"), new ChatMessage(ChatRole.User, "Hi")]));
    }

    [Fact]
    public async Task Cancellation_is_honoured()
    {
        using var client = Client();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(TwoImages(), null, cts.Token));
    }

    [Fact]
    public void Get_service_returns_metadata_the_model_and_the_client()
    {
        var client = Client();
        IChatClient chat = client;
        var metadata = chat.GetService<ChatClientMetadata>();
        Assert.NotNull(metadata);
        Assert.Equal("internvit-sk", metadata.ProviderName);
        Assert.Equal(Path.GetFileName(tiny.Directory), metadata.DefaultModelId);
        Assert.Same(Model, chat.GetService<InternVLModel>());
        Assert.Same(Model.Manifest, chat.GetService<ModelManifest>());
        Assert.Same(client, chat.GetService<InternVLChatClient>());
        Assert.Same(client, chat.GetService<IChatClient>());
        Assert.Null(chat.GetService<ChatClientMetadata>("key"));
        Assert.Null(chat.GetService<StringBuilder>());
        Assert.Equal("custom", new InternVLChatClient(Model, new InternVLChatClientOptions { ModelId = "custom" }).Metadata.DefaultModelId);

        client.Dispose(); // not the owner: the model stays usable
        Assert.NotNull(Model.StartConversation());
    }
}
