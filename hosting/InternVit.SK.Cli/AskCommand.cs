using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Export;
using InternVit.SK.Generation;
using InternVit.SK.Generation.Sampling;
using InternVit.SK.Imaging.Tiling;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl ask MODEL_DIR [--image IMG ...] [--max-tiles N] [--max-tokens N] [--temperature T] [--seed S] [--think] [--json] "question"</c>:
/// one question (with images) answered as a stream, or as JSON with token ids, usage and timings. The reasoning of a
/// thinking-mode answer streams to standard error, so standard output holds the answer alone.
/// </summary>
internal static class AskCommand
{
    public static Command Create(TextReader input)
    {
        var model = new Argument<DirectoryInfo>("MODEL_DIR") { Description = "A converted model folder, or an original InternVL checkpoint (converted once into the cache)." };
        var question = new Argument<string>("QUESTION") { Description = "The question; '-' reads it from standard input (for questions longer than a command line may be)." };
        var images = new Option<FileInfo[]>("--image") { Description = "An image (JPEG, PNG, WebP, GIF, BMP); repeat for several.", AllowMultipleArgumentsPerToken = false };
        InputChecks.ValidateImageFiles(images);
        var json = new Option<bool>("--json") { Description = "Print JSON: text, token ids, usage and timings." };
        var generation = new GenerationCliOptions();
        var command = new Command("ask", "Answer one question about images.") { model, question, images, json };
        generation.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            using var vlm = await generation.LoadAsync(parse, parse.GetRequiredValue(model).FullName, cancellationToken);
            var inputs = (parse.GetValue(images) ?? []).Select(f => ImageInput.FromFile(f.FullName)).ToArray();
            var options = generation.Options(parse);
            var conversation = vlm.StartConversation(generation.SystemPrompt(parse));
            GenerationResult? result = null;
            bool asJson = parse.GetValue(json);
            string text = parse.GetRequiredValue(question);
            if (text == "-") text = await input.ReadToEndAsync(cancellationToken);
            await foreach (var update in conversation.StreamAsync(text, inputs, options, cancellationToken))
            {
                if (!asJson)
                {
                    error.Write(update.Reasoning);
                    output.Write(update.Text);
                }
                result ??= update.Result;
            }
            if (asJson) output.WriteLine(ToJson(result!).ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            else output.WriteLine();
            return 0;
        });
        return command;
    }

    internal static JsonObject ToJson(GenerationResult result)
    {
        static double Ms(TimeSpan t) => Math.Round(t.TotalMilliseconds, 3);
        var ids = new JsonArray();
        foreach (int id in result.TokenIds) ids.Add(id);
        return new JsonObject
        {
            ["text"] = result.Text,
            ["reasoning"] = result.Reasoning,
            ["token_ids"] = ids,
            ["finish_reason"] = result.FinishReason.ToString().ToLowerInvariant(),
            ["usage"] = new JsonObject
            {
                ["prompt_tokens"] = result.Usage.PromptTokens,
                ["image_tokens"] = result.Usage.ImageTokens,
                ["completion_tokens"] = result.Usage.CompletionTokens,
            },
            ["timings"] = new JsonObject
            {
                ["preprocess_ms"] = Ms(result.Timings.Preprocess),
                ["vision_ms"] = Ms(result.Timings.Vision),
                ["prefill_ms"] = Ms(result.Timings.Prefill),
                ["decode_ms"] = Ms(result.Timings.Decode),
                ["time_to_first_token_ms"] = Ms(result.Timings.TimeToFirstToken),
                ["decode_tokens_per_second"] = Math.Round(result.Timings.DecodeTokensPerSecond(result.Usage.CompletionTokens), 2),
            },
        };
    }
}

/// <summary>The loading and generation options <c>ask</c> and <c>chat</c> share.</summary>
internal sealed class GenerationCliOptions
{
    private readonly Option<int?> _maxTiles = new("--max-tiles") { Description = $"Most tiles per image, 1..{TilingOptions.MaxSupportedTiles} (default: the model's)." };
    private readonly Option<int> _maxTokens = new("--max-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 512 };
    private readonly Option<float> _temperature = new("--temperature") { Description = "Sampling temperature (0: greedy).", DefaultValueFactory = _ => 0f };
    private readonly Option<int?> _topK = new("--top-k") { Description = "Sample among the k most likely tokens." };
    private readonly Option<float?> _topP = new("--top-p") { Description = "Sample within this cumulative probability." };
    private readonly Option<float> _repetitionPenalty = new("--repetition-penalty") { Description = "Penalty for tokens already generated (1: none).", DefaultValueFactory = _ => 1f };
    private readonly Option<long?> _seed = new("--seed") { Description = "Random seed: the same seed gives the same text." };
    private readonly Option<string[]> _stop = new("--stop") { Description = "A string that ends the answer; repeat for several." };
    private readonly Option<string?> _system = new("--system") { Description = "System prompt (default: the template's)." };
    private readonly Option<bool> _think = new("--think")
    {
        Description = "Thinking mode (InternVL3.5): the published thinking system prompt goes first (before --system's), and the model's reasoning is shown apart, on standard error.",
    };
    private readonly Option<DirectoryInfo?> _cache = new("--cache-dir") { Description = "Where original checkpoints are converted to (default ~/.cache/internvit-sk)." };
    private readonly Option<int> _threads = new("--threads") { Description = "Threads per operator (0: ONNX Runtime's default).", DefaultValueFactory = _ => 0 };

    public void AddTo(Command command)
    {
        // Each value is checked by the option type that holds it, while parsing (before the model loads).
        InputChecks.Validate(_maxTiles, v => TilingOptions.CheckMaxTiles(v, "MaxTiles"));
        InputChecks.Validate(_maxTokens, v => new GenerationOptions { MaxNewTokens = v }.Validate());
        InputChecks.Validate(_temperature, v => _ = new SamplingOptions { Temperature = v });
        InputChecks.Validate(_topK, v => _ = new SamplingOptions { TopK = v });
        InputChecks.Validate(_topP, v => _ = new SamplingOptions { TopP = v });
        InputChecks.Validate(_repetitionPenalty, v => _ = new SamplingOptions { RepetitionPenalty = v });
        foreach (var option in (Option[])[_maxTiles, _maxTokens, _temperature, _topK, _topP, _repetitionPenalty, _seed, _stop, _system, _think, _cache, _threads])
            command.Add(option);
    }

    public GenerationOptions Options(ParseResult parse) => new()
    {
        MaxNewTokens = parse.GetValue(_maxTokens),
        MaxTiles = parse.GetValue(_maxTiles),
        StopSequences = parse.GetValue(_stop) ?? [],
        Thinking = parse.GetValue(_think),
        Sampling = new SamplingOptions
        {
            Temperature = parse.GetValue(_temperature),
            TopK = parse.GetValue(_topK),
            TopP = parse.GetValue(_topP),
            RepetitionPenalty = parse.GetValue(_repetitionPenalty),
            Seed = parse.GetValue(_seed),
        },
    };

    public string? SystemPrompt(ParseResult parse) => parse.GetValue(_system);

    /// <summary>Loads the model; conversion progress (first use of an original checkpoint) goes to standard error.</summary>
    public Task<InternVLModel> LoadAsync(ParseResult parse, string path, CancellationToken cancellationToken)
    {
        var error = parse.InvocationConfiguration.Error;
        var progress = new LineProgress(error);
        return InternVLModel.LoadAsync(path, new InternVLModelOptions
        {
            CacheDirectory = parse.GetValue(_cache)?.FullName,
            IntraOpThreads = parse.GetValue(_threads),
        }, progress, cancellationToken);
    }
}

/// <summary>Conversion progress as one line per step and per finer position.</summary>
internal sealed class LineProgress(TextWriter output) : IProgress<ConversionProgress>
{
    public void Report(ConversionProgress value) =>
        output.WriteLine(value.Detail.Length == 0 ? $"[{value.Step}/{value.Steps}] {value.Stage}" : $"[{value.Step}/{value.Steps}] {value.Stage}: {value.Detail}");
}
