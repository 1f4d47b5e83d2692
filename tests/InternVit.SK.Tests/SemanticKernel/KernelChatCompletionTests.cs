using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Generation;
using InternVit.SK.Plugin;
using InternVit.SK.Tests.Export;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Services;

namespace InternVit.SK.Tests.SemanticKernel;

/// <summary>
/// The local model as a real Semantic Kernel's chat completion service (AddInternVLChatCompletion on the tiny
/// checkpoint): ChatHistory with ImageContent (bytes, data URIs, file URIs from a prompt template), system messages and
/// multi-turn history, streaming, and PromptExecutionSettings mapped to the generation, against the golden greedy answers.
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class KernelChatCompletionTests(ConvertedTinyModel tiny)
{
    private const string ServiceId = "internvl";
    private static readonly string Images = Path.Combine(TestPaths.Fixtures, "images");

    private static JsonNode Golden(string prompt) => JsonNode.Parse(File.ReadAllText(Goldens.ModelA("manifest.json")))!["prompts"]![prompt]!;

    private Kernel Kernel()
    {
        var builder = Microsoft.SemanticKernel.Kernel.CreateBuilder();
        builder.AddInternVLChatCompletion(tiny.Model, ServiceId, o => o.AllowedImageRoots.Add(Images));
        return builder.Build();
    }

    private static byte[] Bytes(string file) => File.ReadAllBytes(Path.Combine(Images, file));

    private static PromptExecutionSettings MaxTokens(int tokens) => new() { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = tokens } };

    /// <summary>The two_images golden: the PNG as bytes, the WebP as a data URI, then the text.</summary>
    private static ChatHistory TwoImages() =>
    [
        new ChatMessageContent(AuthorRole.User,
        [
            new ImageContent(Bytes("exact_448x448.png"), "image/png"),
            new ImageContent { DataUri = "data:image/webp;base64," + Convert.ToBase64String(Bytes("photo_webp_800x450.webp")) },
            new Microsoft.SemanticKernel.TextContent("Describe the two images."),
        ]),
    ];

    [Fact]
    public void The_model_is_both_the_chat_completion_service_and_the_chat_client_under_its_service_id()
    {
        var kernel = Kernel();
        var service = kernel.GetRequiredService<IChatCompletionService>(ServiceId);
        var client = kernel.GetRequiredService<IChatClient>(ServiceId);
        Assert.IsType<InternVLChatClient>(client);
        Assert.Equal(Path.GetFileName(tiny.Directory), service.Attributes[AIServiceExtensions.ModelIdKey]);
        Assert.Same(tiny.Model, kernel.Services.GetRequiredKeyedService<InternVLModel>(ServiceId));
        Assert.Null(kernel.Services.GetService<IChatCompletionService>()); // keyed only: another service stays the default
    }

    [Fact]
    public async Task A_chat_history_with_image_bytes_and_a_data_uri_gives_the_golden_answer()
    {
        var golden = Golden("two_images");
        var service = Kernel().GetRequiredService<IChatCompletionService>(ServiceId);
        var reply = await service.GetChatMessageContentAsync(TwoImages(), MaxTokens(24));

        Assert.Equal((string)golden["generated_text_skip_special"]!, reply.Content);
        Assert.Equal(AuthorRole.Assistant, reply.Role);
        var usage = Assert.IsType<UsageDetails>(reply.Metadata!["Usage"]);
        Assert.Equal((int)golden["seq_len"]!, usage.InputTokenCount);
        Assert.Equal(24, usage.OutputTokenCount);
        Assert.Equal((int)golden["num_img_context_tokens"]!, usage.AdditionalCounts![InternVLChatClient.ImageTokensCount]);
    }

    [Fact]
    public async Task Streaming_gives_the_golden_answer_piece_by_piece()
    {
        var service = Kernel().GetRequiredService<IChatCompletionService>(ServiceId);
        var text = new StringBuilder();
        int pieces = 0;
        await foreach (var piece in service.GetStreamingChatMessageContentsAsync(TwoImages(), MaxTokens(24)))
        {
            text.Append(piece.Content);
            if (!string.IsNullOrEmpty(piece.Content)) pieces++;
        }
        Assert.Equal((string)Golden("two_images")["generated_text_skip_special"]!, text.ToString());
        Assert.True(pieces > 1, $"{pieces} pieces");
    }

    [Fact]
    public async Task System_messages_and_multi_turn_history_equal_the_conversation_run_directly()
    {
        var image = ImageInput.FromFile(Path.Combine(Images, "exact_448x448.png"));
        var direct = Model.StartConversation("Answer briefly.");
        await direct.GenerateAsync("Describe the image.", [image], new GenerationOptions { MaxNewTokens = 8 });
        var expected = await direct.GenerateAsync("And the colours?", null, new GenerationOptions { MaxNewTokens = 8 });

        var history = new ChatHistory("Answer briefly.");
        history.AddUserMessage([new ImageContent(Bytes("exact_448x448.png"), "image/png"), new Microsoft.SemanticKernel.TextContent("Describe the image.")]);
        history.AddAssistantMessage(direct.History[0].Answer);
        history.AddUserMessage("And the colours?");
        var reply = await Kernel().GetRequiredService<IChatCompletionService>(ServiceId).GetChatMessageContentAsync(history, MaxTokens(8));

        Assert.Equal(expected.Text, reply.Content);
        var usage = Assert.IsType<UsageDetails>(reply.Metadata!["Usage"]);
        Assert.Equal(expected.Usage.PromptTokens, usage.InputTokenCount);
        Assert.Equal(256, usage.AdditionalCounts![InternVLChatClient.ImageTokensCount]); // the first turn's image stays in the prompt
    }

    private InternVLModel Model => tiny.Model;

    [Fact]
    public void Execution_settings_map_to_generation_options()
    {
        var kernel = Kernel();
        var client = (InternVLChatClient)kernel.GetRequiredService<IChatClient>(ServiceId);
        var settings = new PromptExecutionSettings
        {
            ExtensionData = new Dictionary<string, object>
            {
                ["max_tokens"] = 7, ["temperature"] = 0.7, ["top_p"] = 0.9, ["top_k"] = 40, ["seed"] = 42,
                ["stop_sequences"] = new[] { "END" }, ["max_tiles"] = 3, ["repetition_penalty"] = 1.1,
            },
        };
        var mapped = client.ToGenerationOptions(settings.ToChatOptions(kernel));
        Assert.Equal(7, mapped.MaxNewTokens);
        Assert.Equal(0.7f, mapped.Sampling.Temperature);
        Assert.Equal(0.9f, mapped.Sampling.TopP);
        Assert.Equal(40, mapped.Sampling.TopK);
        Assert.Equal(42, mapped.Sampling.Seed);
        Assert.Equal(["END"], mapped.StopSequences);
        Assert.Equal(3, mapped.MaxTiles);
        Assert.Equal(1.1f, mapped.Sampling.RepetitionPenalty);

        // The same settings as a prompt's JSON configuration gives them (values are JSON elements).
        var fromJson = JsonSerializer.Deserialize<PromptExecutionSettings>(
            """{"max_tokens": 5, "temperature": 0.5, "top_p": 0.8, "top_k": 20, "seed": 3, "stop_sequences": ["STOP", "END"], "max_tiles": 2}""")!;
        var mappedJson = client.ToGenerationOptions(fromJson.ToChatOptions(kernel));
        Assert.Equal(5, mappedJson.MaxNewTokens);
        Assert.Equal(0.5f, mappedJson.Sampling.Temperature);
        Assert.Equal(0.8f, mappedJson.Sampling.TopP);
        Assert.Equal(20, mappedJson.Sampling.TopK);
        Assert.Equal(3, mappedJson.Sampling.Seed);
        Assert.Equal(["STOP", "END"], mappedJson.StopSequences);
        Assert.Equal(2, mappedJson.MaxTiles);

        var defaults = client.ToGenerationOptions(new PromptExecutionSettings().ToChatOptions(kernel));
        Assert.Equal(512, defaults.MaxNewTokens);
        Assert.True(defaults.Sampling.IsGreedy);
    }

    [Fact]
    public async Task Max_tiles_and_stop_sequences_reach_the_generation()
    {
        var service = Kernel().GetRequiredService<IChatCompletionService>(ServiceId);
        var oneTile = await service.GetChatMessageContentAsync(TwoImages(),
            new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 2, ["max_tiles"] = 1 } });
        Assert.Equal(2 * 256, ((UsageDetails)oneTile.Metadata!["Usage"]!).AdditionalCounts![InternVLChatClient.ImageTokensCount]);

        // The golden text is "ห้า gin eco })(ห้า gin ..."; " eco" ends it.
        var stopped = await service.GetChatMessageContentAsync(TwoImages(),
            new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 24, ["stop_sequences"] = new[] { " eco" } } });
        Assert.Equal("ห้า gin", stopped.Content);
    }

    [Fact]
    public async Task A_prompt_function_with_images_in_its_chat_template_gives_the_golden_answer()
    {
        // One image as a data URI, the other as a file: URI without a MIME type (SK passes it on as image/*), read under the allowed root.
        var kernel = Kernel();
        const string template =
            """<message role="user"><image>{{$first}}</image><image>{{$second}}</image><text>Describe the two images.</text></message>""";
        var result = await kernel.InvokePromptAsync(template, new KernelArguments(new PromptExecutionSettings
        {
            ServiceId = ServiceId,
            ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 24 },
        })
        {
            ["first"] = "data:image/png;base64," + Convert.ToBase64String(Bytes("exact_448x448.png")),
            ["second"] = new Uri(Path.Combine(Images, "photo_webp_800x450.webp")).AbsoluteUri,
        });
        Assert.Equal((string)Golden("two_images")["generated_text_skip_special"]!, result.ToString());
    }
}
