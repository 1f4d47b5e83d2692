using System.ComponentModel;
using InternVit.SK.Generation;
using InternVit.SK.Imaging;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Plugin;

/// <summary>
/// Vision tools for an LLM planner, as Microsoft.Extensions.AI <see cref="AIFunction"/>s (Semantic Kernel turns each into a
/// kernel function with <c>AsKernelFunction()</c>): <c>describe_image</c>, <c>ask_image</c>, <c>extract_text</c>,
/// <c>answer_document_question</c> and <c>locate</c>. Each call runs in a fresh conversation on the shared model, so
/// tools may be called concurrently. Every argument is untrusted: images are read through the
/// <see cref="ImageSourceOptions"/> policy, and questions or phrases holding the model's special tokens are refused.
/// The model (or chat client) is not owned: dispose it yourself after the tools. The tools talk to an <see cref="IChatClient"/>:
/// the local model's <see cref="InternVLChatClient"/>, or <see cref="InternVLRemoteChatClient"/> over vLLM or lmdeploy.
/// </summary>
public sealed class VisionTools : IDisposable
{
    // Prompts. describe_image: "brief" is the official caption evaluation's prompt
    // (OpenGVLab/InternVL internvl_chat/eval/caption/evaluate_caption.py); "normal" and "detailed" are the quick-start
    // prompts of the InternVL2/2.5 model cards ("Please describe the image shortly." / "... in detail.").
    private const string BriefPrompt = "Provide a one-sentence caption for the provided image.";
    private const string NormalPrompt = "Please describe the image shortly.";
    private const string DetailedPrompt = "Please describe the image in detail.";

    // extract_text: a plain imperative in the model cards' style (the official evaluations ask OCR questions through
    // VQA prompts and have no transcription prompt), asking for line breaks and reading order explicitly.
    internal const string OcrPrompt = "Please recognize all the text in the image. Output only the text, keeping the original line breaks and reading order.";

    // locate: the official RefCOCO grounding prompt (internvl_chat/eval/refcoco/evaluate_grounding.py).
    internal const string GroundingPrompt = "Please provide the bounding box coordinate of the region this sentence describes: <ref>{0}</ref>";

    private static readonly string[] Details = ["brief", "normal", "detailed"];

    /// <summary>
    /// The marker texts of InternVL's chat templates and grounding format. A remote backend has no tokenizer here, so its
    /// questions are checked against these texts; over the local model the tokenizer's own special tokens are checked too.
    /// </summary>
    private static readonly string[] TemplateMarkers =
        ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<img>", "</img>", "<IMG_CONTEXT>", "<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>"];

    /// <summary>Most tiles per image when neither the options nor a local model say: InternVL's <c>max_dynamic_patch</c> default (12).</summary>
    internal const int RemoteDefaultMaxTiles = 12;

    private readonly IChatClient _client;
    private readonly InternVLChatClient? _ownedClient;
    private readonly InternVLModel? _model;
    private readonly VisionToolsOptions _options;
    private readonly ImageSources _sources;
    private readonly IReadOnlyList<AIFunction> _functions;

    /// <summary>Creates the tools over <paramref name="model"/> (not owned).</summary>
    public VisionTools(InternVLModel model, VisionToolsOptions? options = null) : this(model, options, null)
    {
    }

    /// <summary>Creates the tools with <paramref name="httpHandler"/> standing in for the network (tests).</summary>
    internal VisionTools(InternVLModel model, VisionToolsOptions? options, HttpMessageHandler? httpHandler)
        : this(new InternVLChatClient(model ?? throw new ArgumentNullException(nameof(model))), options, httpHandler, ownsClient: true)
    {
    }

    /// <summary>
    /// Creates the tools over a chat client (not owned): an <see cref="InternVLChatClient"/>, or an
    /// <see cref="InternVLRemoteChatClient"/> over vLLM, lmdeploy or <c>internvl serve</c> endpoints. The prompts, the
    /// grounding parsing and the box mapping are the same for every client.
    /// </summary>
    public VisionTools(IChatClient client, VisionToolsOptions? options = null) : this(client, options, null, ownsClient: false)
    {
    }

    private VisionTools(IChatClient client, VisionToolsOptions? options, HttpMessageHandler? httpHandler, bool ownsClient)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        _ownedClient = ownsClient ? client as InternVLChatClient : null;
        _model = client.GetService<InternVLModel>();
        _options = options ?? new VisionToolsOptions();
        _options.Validate();
        _sources = new ImageSources(_options.ImageSources, httpHandler);
        AIFunction[] functions =
        [
            new EnumeratedParameter(AIFunctionFactory.Create(DescribeImageAsync, new AIFunctionFactoryOptions { Name = "describe_image" }), "detail", Details),
            AIFunctionFactory.Create(AskImageAsync, new AIFunctionFactoryOptions { Name = "ask_image" }),
            AIFunctionFactory.Create(ExtractTextAsync, new AIFunctionFactoryOptions { Name = "extract_text" }),
            AIFunctionFactory.Create(AnswerDocumentQuestionAsync, new AIFunctionFactoryOptions { Name = "answer_document_question" }),
            AIFunctionFactory.Create(LocateAsync, new AIFunctionFactoryOptions { Name = "locate" }),
        ];
        _functions = [.. functions.Select(f => new ArgumentTypeCheck(f))];
    }

    /// <summary>Called after every local generation with the conversation (its history holds the question as prompted) and the result; a test seam.</summary>
    internal Action<Conversation, GenerationResult>? Generated
    {
        get => (_client as InternVLChatClient)?.Generated;
        set => (_client as InternVLChatClient ?? throw new InvalidOperationException("only the local model's tools report generations")).Generated = value;
    }

    /// <summary>The tools as AI functions, for a planner (<c>ChatOptions.Tools</c>) or Semantic Kernel (<c>AsKernelFunction()</c>).</summary>
    public IReadOnlyList<AIFunction> AsAIFunctions() => _functions;

    /// <summary>Describes an image.</summary>
    [Description("Describes what an image shows. Use it to learn what is in a picture before asking more specific questions.")]
    public async Task<ImageDescription> DescribeImageAsync(
        [Description(ImageArgument)] string image,
        [Description("How much detail: 'brief' (one sentence, fastest), 'normal' or 'detailed'.")] string detail = "normal",
        CancellationToken cancellationToken = default)
    {
        string level = (detail ?? "normal").Trim().ToLowerInvariant();
        string prompt = level switch
        {
            "brief" => BriefPrompt,
            "normal" => NormalPrompt,
            "detailed" => DetailedPrompt,
            _ => throw new ArgumentException($"detail must be one of {string.Join(", ", Details)}, not '{detail}'", nameof(detail)),
        };
        // A one-sentence caption needs no high-resolution tiles: the whole image as one 448-pixel tile.
        int? maxTiles = level == "brief" ? 1 : _options.MaxTiles;
        var input = await _sources.ReadAsync(image, cancellationToken).ConfigureAwait(false);
        var (answer, usage) = await GenerateAsync(prompt, [input], maxTiles, cancellationToken).ConfigureAwait(false);
        return new ImageDescription(answer, level, usage);
    }

    /// <summary>Answers a question about an image.</summary>
    [Description("Answers a question about one image, e.g. 'How many people are in the picture?' or 'What colour is the car?'.")]
    public async Task<ImageAnswer> AskImageAsync(
        [Description(ImageArgument)] string image,
        [Description("The question about the image, in natural language.")] string question,
        CancellationToken cancellationToken = default)
    {
        string checkedQuestion = CheckText(question, nameof(question));
        var input = await _sources.ReadAsync(image, cancellationToken).ConfigureAwait(false);
        var (answer, usage) = await GenerateAsync(checkedQuestion, [input], _options.MaxTiles, cancellationToken).ConfigureAwait(false);
        return new ImageAnswer(answer, 1, usage);
    }

    /// <summary>Reads the text of an image (OCR).</summary>
    [Description("Reads all text in an image (OCR): documents, receipts, screenshots, signs. Returns the text with its line breaks, in reading order.")]
    public async Task<ExtractedText> ExtractTextAsync(
        [Description(ImageArgument)] string image,
        CancellationToken cancellationToken = default)
    {
        var input = await _sources.ReadAsync(image, cancellationToken).ConfigureAwait(false);
        var (text, usage) = await GenerateAsync(OcrPrompt, [input], _options.MaxTiles, cancellationToken).ConfigureAwait(false);
        string[] lines = text.Split('\n').Select(line => line.TrimEnd('\r')).Where(line => line.Trim().Length > 0).ToArray();
        return new ExtractedText(text, lines, usage);
    }

    /// <summary>Answers a question about a document of one or more page images.</summary>
    [Description("Answers a question about a document given as page images (in page order), reading all pages together in one prompt.")]
    public async Task<ImageAnswer> AnswerDocumentQuestionAsync(
        [Description("The page images in order; each is a file path, a data URI, base64, or an allowed http(s) URL.")] string[] pages,
        [Description("The question about the document.")] string question,
        CancellationToken cancellationToken = default)
    {
        if (pages is null || pages.Length == 0) throw new ArgumentException("at least one page image is needed", nameof(pages));
        if (pages.Length > _options.MaxPages) throw new ArgumentException($"{pages.Length} pages are more than the limit of {_options.MaxPages}", nameof(pages));
        string checkedQuestion = CheckText(question, nameof(question));
        // Tiles per page as the official multi-page DocVQA evaluation shares them
        // (internvl_chat/eval/mpdocvqa/evaluate_vqa.py: max_num = max(1, min(max_num, total_max_num // pages))).
        int tilesPerPage = Math.Max(1, Math.Min(_options.MaxTiles ?? _model?.DefaultMaxTiles ?? RemoteDefaultMaxTiles, _options.DocumentTileBudget / pages.Length));
        var inputs = new List<ReadOnlyMemory<byte>>(pages.Length);
        foreach (string page in pages)
            inputs.Add(await _sources.ReadAsync(page, cancellationToken).ConfigureAwait(false));
        // No placeholder in the question: the prompt builder prepends "Image-1: <image>\nImage-2: <image>\n..." (one
        // "<image>\n" for a single page), the multi-image convention of the model cards and of that evaluation.
        var (answer, usage) = await GenerateAsync(checkedQuestion, inputs, tilesPerPage, cancellationToken).ConfigureAwait(false);
        return new ImageAnswer(answer, pages.Length, usage);
    }

    /// <summary>Finds the regions of an image that a phrase describes.</summary>
    [Description("Finds where something is in an image: returns bounding boxes in pixels (x1, y1 top-left; x2, y2 bottom-right) of the region the phrase describes.")]
    public async Task<LocateResult> LocateAsync(
        [Description(ImageArgument)] string image,
        [Description("A short phrase naming what to find, e.g. 'the red car on the left'.")] string phrase,
        CancellationToken cancellationToken = default)
    {
        string checkedPhrase = CheckText(phrase, nameof(phrase));
        var bytes = await _sources.ReadAsync(image, cancellationToken).ConfigureAwait(false);
        // Its size after EXIF orientation (as the model sees it) maps the 0-1000 boxes to pixels.
        int width, height;
        using (var decoded = ImageDecoder.Decode(bytes.Span)) (width, height) = (decoded.Width, decoded.Height);
        // The special tokens are kept so that the grounding tags come back (the stop token never does).
        var (raw, usage) = await GenerateAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, GroundingPrompt, checkedPhrase),
            [bytes], _options.MaxTiles, cancellationToken, keepSpecialTokens: true).ConfigureAwait(false);
        raw = raw.Trim();
        var boxes = GroundingParser.Parse(raw, width, height, checkedPhrase);
        return new LocateResult(checkedPhrase, boxes, width, height, raw, usage);
    }

    private const string ImageArgument = "The image: a file path (relative to the allowed image folder), a data URI (data:image/png;base64,...), base64, or an http(s) URL when allowed.";

    /// <summary>One question about images in a fresh conversation: the images, then the question, greedy, through the chat client.</summary>
    private async Task<(string Answer, VisionUsage Usage)> GenerateAsync(string question, IReadOnlyList<ReadOnlyMemory<byte>> images, int? maxTiles,
        CancellationToken cancellationToken, bool keepSpecialTokens = false)
    {
        var contents = new List<AIContent>(images.Count + 1);
        foreach (var image in images) contents.Add(new DataContent(image, ImageDecoder.MediaType(ImageDecoder.DetectFormat(image.Span))));
        contents.Add(new TextContent(question));
        var messages = new List<ChatMessage>(2);
        if (_options.SystemPrompt is { } system) messages.Add(new ChatMessage(ChatRole.System, system));
        messages.Add(new ChatMessage(ChatRole.User, contents));
        var options = new ChatOptions { MaxOutputTokens = _options.MaxOutputTokens, Temperature = 0, AdditionalProperties = [] };
        if (maxTiles is int tiles) options.AdditionalProperties[InternVLChatClient.MaxTilesProperty] = tiles;
        if (keepSpecialTokens) options.AdditionalProperties[InternVLChatClient.SkipSpecialTokensProperty] = false;
        var response = await _client.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        return (response.Text, Usage(response.Usage));
    }

    private static VisionUsage Usage(UsageDetails? usage) => new(
        (int)(usage?.InputTokenCount ?? 0),
        usage?.AdditionalCounts is { } counts && counts.TryGetValue(InternVLChatClient.ImageTokensCount, out long imageTokens) ? (int)imageTokens : null,
        (int)(usage?.OutputTokenCount ?? 0));

    /// <summary>
    /// A question or phrase from the planner: not empty, not too long, and without the model's special tokens
    /// (<c>&lt;image&gt;</c>, <c>&lt;|im_end|&gt;</c>, <c>&lt;ref&gt;</c>...), which would move images or end turns.
    /// </summary>
    private string CheckText(string? text, string name)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException($"{name} is empty", name);
        string trimmed = text.Trim();
        if (trimmed.Length > _options.MaxQuestionLength)
            throw new ArgumentException($"{name} is {trimmed.Length} characters, more than the limit of {_options.MaxQuestionLength}", name);
        if (trimmed.Contains(Text.PromptBuilder.ImagePlaceholder, StringComparison.Ordinal))
            throw new ArgumentException($"{name} must not contain '{Text.PromptBuilder.ImagePlaceholder}'; pass images as image arguments", name);
        if (_model is not null)
            foreach (int id in _model.Tokenizer.Encode(trimmed))
                if (_model.Tokenizer.IsSpecialToken(id))
                    throw new ArgumentException($"{name} must not contain the model's special token '{_model.Tokenizer.IdToToken(id)}'", name);
        // The first marker in the text is named (a remote backend's tokenizer is not here to find them).
        string? first = null;
        int at = int.MaxValue;
        foreach (string marker in TemplateMarkers)
        {
            int index = trimmed.IndexOf(marker, StringComparison.Ordinal);
            if (index >= 0 && index < at) (first, at) = (marker, index);
        }
        if (first is not null) throw new ArgumentException($"{name} must not contain the model's special token '{first}'", name);
        return trimmed;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _sources.Dispose();
        _ownedClient?.Dispose();
    }
}
