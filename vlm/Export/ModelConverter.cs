using InternVit.SK.ModelFolder;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Checkpoints;
using InternVit.SK.Onnx;
using InternVit.SK.Text;

namespace InternVit.SK.Export;

/// <summary>How <see cref="ModelConverter"/> converts.</summary>
public sealed record ConversionOptions
{
    /// <summary>
    /// Weight precision of the graphs (see <see cref="ModelFolder.Precision"/>): <c>fp32</c>; <c>fp16</c>, every
    /// Linear weight (lm_head included) stored as float16 and cast to float32 inside the graph, so files are half the
    /// size and the arithmetic stays float32; <c>int8</c>, the
    /// LLM's Linear weights quantized to 8 bits in blocks of 32 for ONNX Runtime's MatMulNBits and the vision graph's
    /// to int8 per output channel for DynamicQuantizeMatMul (activations quantized at run time); <c>int4</c>, the LLM's
    /// Linear weights (lm_head included) in 4 bits and the vision graph's as for int8; <c>int4-prefill8</c>, int4 plus a
    /// second decoder graph for prompts (more than one position per call) whose body Linear weights are int8 per output
    /// channel for DynamicQuantizeMatMul (lm_head stays 4-bit), so prefill runs the integer GEMM and decode steps keep
    /// the 4-bit weights. Norms, biases, the patch embedding and the token-embedding table stay as they are.
    /// </summary>
    public Precision Precision { get; init; } = Precision.Fp32;

    /// <summary>Replace an existing model folder instead of leaving it as it is.</summary>
    public bool Force { get; init; }
}

/// <summary>A step of a conversion, for progress displays.</summary>
/// <param name="Step">1-based step number.</param>
/// <param name="Steps">Number of steps.</param>
/// <param name="Stage">What the step does (e.g. "vision graph").</param>
/// <param name="Detail">Finer position inside the step (e.g. "layer 3/24"), or empty.</param>
public sealed record ConversionProgress(int Step, int Steps, string Stage, string Detail);

/// <summary>What a conversion did.</summary>
/// <param name="OutputDirectory">The model folder.</param>
/// <param name="Converted">False when an existing model folder was left as it is (no <see cref="ConversionOptions.Force"/>).</param>
/// <param name="Message">One line for the user.</param>
/// <param name="Manifest">The folder's manifest.</param>
public sealed record ConversionResult(string OutputDirectory, bool Converted, string Message, ModelManifest Manifest);

/// <summary>
/// Converts an InternVL checkpoint (config.json, safetensors, tokenizer files) into a model folder, in either layout
/// (see <see cref="CheckpointLayout"/>): OpenGVLab's original <c>InternVLChatModel</c> one, or the Hugging Face-native
/// <c>InternVLForConditionalGeneration</c> one of the "-hf" repositories, whose config and weight names are read into
/// the original ones (the same graphs come out of both). The model folder holds <c>vision.onnx</c>, <c>decoder.onnx</c>, <c>embeddings.safetensors</c>, the
/// tokenizer files and <c>manifest.json</c>. Everything is checked before anything is written, the folder is assembled
/// beside the destination and moved into place at the end, so a failed or cancelled conversion leaves nothing that
/// would load.
/// </summary>
public static class ModelConverter
{
    /// <summary>
    /// The revision of the graphs a conversion writes, within one manifest format version: part of the cache folder's
    /// name, so that caches converted by an earlier revision are converted again. 2: DynamicQuantizeMatMul weights in 7
    /// bits (exact on AVX2 CPUs without VNNI, see <see cref="ChannelQuantizer"/>). 3: the vision graph folds InternViT's
    /// layer scales (ls1, ls2) into attn.proj and mlp.fc2 and, where the Linear format leaves the bias out of the product
    /// (fp32, fp16), adds the biases inside BiasGelu and SkipLayerNormalization (fewer passes over the activations).
    /// </summary>
    internal const int GraphRevision = 3;

    /// <summary>LLM architectures (<c>llm_config.architectures[0]</c>) the converter builds.</summary>
    public static IReadOnlyList<string> SupportedLlmArchitectures => QwenDecoderGraph.Architectures;

    /// <summary>
    /// LLM architectures of published InternVL checkpoints that the converter has no graphs for, with the models that
    /// use them, so that a refusal names what the user downloaded.
    /// </summary>
    private static readonly Dictionary<string, (string Family, string Models)> UnsupportedLlmArchitectures = new(StringComparer.Ordinal)
    {
        ["InternLM2ForCausalLM"] = ("InternLM2", "e.g. InternVL2-2B, -8B, -26B and InternVL2.5-2B, -8B, -26B"),
        ["Phi3ForCausalLM"] = ("Phi-3", "e.g. InternVL2-4B"),
        ["LlamaForCausalLM"] = ("Llama", "e.g. InternVL2-40B, -76B"),
        ["GptOssForCausalLM"] = ("GPT-OSS", "InternVL3.5-20B-A4B"),
        ["Qwen3MoeForCausalLM"] = ("Qwen3 MoE", "InternVL3.5-30B-A3B, -241B-A28B"),
    };

    private const string VisionFile = ModelFiles.VisionGraph;
    private const string DecoderFile = ModelFiles.DecoderGraph;
    private const string PrefillFile = ModelFiles.PrefillGraph;

    private const string EmbeddingsFile = ModelFiles.Embeddings;

    /// <summary>Tokenizer and generation files copied into the model folder when the checkpoint has them.</summary>
    internal static readonly string[] TokenizerFiles =
        ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json", "generation_config.json",
         "chat_template.jinja", HuggingFaceConfig.PreprocessorConfigFile, "processor_config.json"];

    private const int Steps = 6;

    /// <summary>Converts <paramref name="checkpointDirectory"/> into the model folder <paramref name="outputDirectory"/>.</summary>
    /// <exception cref="CheckpointException">The checkpoint cannot be converted (unsupported architecture, missing or misshapen tensors, no tokenizer ...), or the destination is not ours to replace.</exception>
    /// <exception cref="TokenizerException">The tokenizer files are of a kind the runtime cannot load.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; nothing was left behind.</exception>
    public static Task<ConversionResult> ConvertAsync(string checkpointDirectory, string outputDirectory, ConversionOptions? options = null,
        IProgress<ConversionProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Convert(checkpointDirectory, outputDirectory, options ?? new ConversionOptions(), progress, cancellationToken), cancellationToken);

    /// <summary>
    /// The tensors the checkpoint in <paramref name="checkpointDirectory"/> must hold for <see cref="ConvertAsync"/>, in its
    /// own layout's key names, with the shapes its <c>config.json</c> implies: the vision encoder's and the projector's
    /// (original layout: <c>vision_model.*</c>, <c>mlp1.*</c>; Hugging Face-native: <c>vision_tower.*</c> with q/k/v
    /// apart, <c>multi_modal_projector.*</c>), then the language model's (<c>language_model.*</c>). For the
    /// Hugging Face-native layout the names are spelled as the folder's weights spell them (stored, or
    /// <c>model.</c>-prefixed), as stored when it has none yet. A conversion refuses a checkpoint that lacks one of them,
    /// holds one with another shape or in a dtype other than F32, F16 or BF16, or holds a tensor not in the list; with
    /// this list a tool can check a checkpoint, or write one, without converting it.
    /// </summary>
    /// <exception cref="CheckpointException">config.json is missing or unreadable, or names an architecture the converter
    /// has no graphs for (the conversion checks the config's other fields).</exception>
    public static IReadOnlyList<ExpectedTensor> ExpectedTensors(string checkpointDirectory)
    {
        string source = Path.GetFullPath(checkpointDirectory);
        var config = LoadBuiltArchitecture(source);
        ExpectedTensor[] graphTensors = [.. new InternVitGraph(config).ExpectedWeights(), .. new QwenDecoderGraph(config.LlmConfig).ExpectedWeights()];
        if (config.Layout == CheckpointLayout.Original) return graphTensors;
        if (File.Exists(Path.Combine(source, SafetensorsCheckpoint.SingleFileName)) || File.Exists(Path.Combine(source, SafetensorsCheckpoint.IndexFileName)))
        {
            using var reader = CheckpointReader.Open(source, config.Layout);
            return GraphWeights.StoredTensors(reader, graphTensors);
        }
        return graphTensors.SelectMany(t => CheckpointReader.StoredTensors(t, config.Layout)).ToArray();
    }

    internal static ConversionResult Convert(string checkpointDirectory, string outputDirectory, ConversionOptions options,
        IProgress<ConversionProgress>? progress, CancellationToken cancellationToken)
    {
        string source = Path.GetFullPath(checkpointDirectory);
        string output = Path.GetFullPath(outputDirectory.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        if (!Directory.Exists(source)) throw new DirectoryNotFoundException($"checkpoint folder not found: {source}");
        if (!Enum.IsDefined(options.Precision))
            throw new ArgumentException($"precision {(int)options.Precision} is not a {nameof(Precision)}", nameof(options));

        // 1. The destination: an existing model stays unless forced; a folder with other content, or a file, is never replaced.
        if (File.Exists(output))
            throw new CheckpointException(output, "the output path is an existing file, not a folder; it is left untouched (choose a new or empty folder)");
        if (Directory.Exists(output))
        {
            if (ModelManifest.Exists(output))
            {
                if (!options.Force)
                {
                    var existing = ModelManifest.Load(output);
                    return new ConversionResult(output, false,
                        $"{output} already holds a converted model (from {existing.Source.Architecture}/{existing.Source.LlmArchitecture}, source sha256 {Short(existing.Source.Sha256)}); nothing to do. Pass --force to convert again.",
                        existing);
                }
            }
            else if (Directory.EnumerateFileSystemEntries(output).Any())
            {
                throw new CheckpointException(output, "the output folder exists and is not a converted model folder; it is left untouched (choose an empty or new folder)");
            }
        }

        // 2. Everything about the source is checked before a byte is written.
        Report(progress, 1, "checking the checkpoint", "");
        var config = LoadSupportedConfig(source);
        using var checkpoint = CheckpointReader.Open(source, config.Layout);
        var vision = new InternVitGraph(config);
        var decoder = new QwenDecoderGraph(config.LlmConfig);
        var expected = vision.ExpectedWeights().Concat(decoder.ExpectedWeights()).ToArray();
        GraphWeights.Validate(checkpoint, expected);
        string[] tokenizerFiles = TokenizerFiles.Where(f => File.Exists(Path.Combine(source, f))).ToArray();
        if (!tokenizerFiles.Contains("tokenizer.json") && !(tokenizerFiles.Contains("vocab.json") && tokenizerFiles.Contains("merges.txt")))
            throw new CheckpointException(source, "no tokenizer: the folder needs tokenizer.json, or vocab.json + merges.txt (+ tokenizer_config.json)");
        var tokenizer = Qwen2Tokenizer.Load(source);
        var specialTokens = ResolveSpecialTokens(source, config, tokenizer);
        if (ConversationTemplate.All.All(t => t.Name != config.Template))
            throw new CheckpointException(Path.Combine(source, "config.json"),
                $"template '{config.Template}' is not supported; supported: {string.Join(", ", ConversationTemplate.All.Select(t => t.Name))}");
        if (ConversationTemplate.Get(config.Template!).StopToken is var stop && tokenizer.TokenToId(stop) is null)
            throw new CheckpointException(source, $"the tokenizer has no token '{stop}', the stop token of template '{config.Template}'");
        var embedding = checkpoint.StoredTensor(QwenDecoderGraph.EmbedTokensKey);
        if (embedding.ByteLength > int.MaxValue)
            throw new CheckpointException(source, $"'{QwenDecoderGraph.EmbedTokensKey}' is {embedding.ByteLength:N0} bytes; tables over 2 GiB are not supported yet");
        cancellationToken.ThrowIfCancellationRequested();

        Report(progress, 2, "hashing the source files", "");
        var sourceInfo = DescribeSource(source, config, checkpoint.Weights, cancellationToken);

        // 3. Assemble the folder beside the destination, then move it into place.
        string parent = Path.GetDirectoryName(output) ?? ".";
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{Path.GetFileName(output)}.{Guid.NewGuid():N}.partial");
        Directory.CreateDirectory(staging);
        try
        {
            var used = new HashSet<string>(StringComparer.Ordinal);
            var metadata = new[] { new KeyValuePair<string, string>("source_sha256", sourceInfo.Sha256) };

            void BuildGraph(int step, string stage, string file, string graphName, LinearFormat linearFormat, Action<OnnxGraphBuilder, GraphWeights, Action<string>> build,
                LinearFormat? lmHeadFormat = null)
            {
                Report(progress, step, stage, "");
                using var g = new OnnxGraphBuilder(Path.Combine(staging, file), graphName);
                var w = new GraphWeights(checkpoint, g, linearFormat, lmHeadFormat);
                build(g, w, detail => { cancellationToken.ThrowIfCancellationRequested(); Report(progress, step, stage, detail); });
                g.Save(Version, metadata);
                used.UnionWith(w.Used);
            }
            BuildGraph(3, "vision graph", VisionFile, "internvit", VisionLinearFormat(options.Precision), vision.Build);
            BuildGraph(4, "decoder graph", DecoderFile, decoder.GraphName, LlmLinearFormat(options.Precision), decoder.Build);
            if (HasPrefillGraph(options.Precision))
                BuildGraph(4, "decoder prefill graph", PrefillFile, decoder.GraphName + "_prefill", LinearFormat.DynamicInt8, decoder.Build, lmHeadFormat: LinearFormat.Blocked4);

            Report(progress, 5, "embeddings and tokenizer", "");
            // The table keeps the original layout's name whichever layout it was stored in, so both give the same folder.
            var stored = checkpoint.StoredTensor(QwenDecoderGraph.EmbedTokensKey);
            var embedFile = checkpoint.Weights.FileOf(stored.Name);
            var embedInfo = stored with { Name = QwenDecoderGraph.EmbedTokensKey };
            SafetensorsWriter.Write(Path.Combine(staging, EmbeddingsFile),
                [new SafetensorsEntry(embedInfo.Name, embedInfo.Dtype, embedInfo.Shape, s => s.Write(embedFile.GetBytes(stored.Name)))],
                new Dictionary<string, string> { ["source_sha256"] = sourceInfo.Sha256 });
            used.Add(QwenDecoderGraph.EmbedTokensKey);
            foreach (string file in tokenizerFiles) File.Copy(Path.Combine(source, file), Path.Combine(staging, file));
            CheckEveryWeightUsed(expected, used, vision);
            cancellationToken.ThrowIfCancellationRequested();

            Report(progress, 6, "manifest", "");
            var manifest = BuildManifest(config, vision, decoder, sourceInfo, embedInfo, tokenizerFiles, specialTokens, options);
            manifest.Save(staging);
            Publish(staging, output);
            return new ConversionResult(output, true, $"converted {source} → {output}", manifest);
        }
        catch
        {
            TryDelete(staging);
            throw;
        }
    }

    /// <summary>
    /// The vision encoder runs 1025 tokens per tile, where the integer GEMM behind DynamicQuantizeMatMul measured about
    /// 4× faster than 8-bit MatMulNBits (which quantizes activations and dot-products them per block of 32).
    /// </summary>
    private static LinearFormat VisionLinearFormat(Precision precision) => precision switch
    {
        Precision.Int8 or Precision.Int4 or Precision.Int4Prefill8 => LinearFormat.DynamicInt8,
        Precision.Fp16 => LinearFormat.Float16,
        _ => LinearFormat.Float32,
    };

    /// <summary>
    /// The LLM keeps MatMulNBits: decoding one token at a time reads every weight once, so bytes decide, and
    /// DynamicQuantizeMatMul at M = 1 decoded slower than 8-bit MatMulNBits (prefill was faster, see the README).
    /// </summary>
    private static LinearFormat LlmLinearFormat(Precision precision) => precision switch
    {
        Precision.Int8 => LinearFormat.Blocked8,
        Precision.Int4 or Precision.Int4Prefill8 => LinearFormat.Blocked4,
        Precision.Fp16 => LinearFormat.Float16,
        _ => LinearFormat.Float32,
    };

    /// <summary>
    /// Whether the precision adds <see cref="PrefillFile"/>: a decoder with the same ports for calls of more than one
    /// position, its body in DynamicQuantizeMatMul int8 (the integer GEMM is faster than 4-bit MatMulNBits at M = 300,
    /// slower at M = 1) and lm_head in 4 bits, since prefill usually keeps the logits of one position only.
    /// </summary>
    private static bool HasPrefillGraph(Precision precision) => precision == Precision.Int4Prefill8;

    private static string Version => typeof(ModelConverter).Assembly.GetName().Version?.ToString() ?? "0";

    private static void Report(IProgress<ConversionProgress>? progress, int step, string stage, string detail) =>
        progress?.Report(new ConversionProgress(step, Steps, stage, detail));

    private static string Short(string sha) => sha.Length > 12 ? sha[..12] : sha;

    private static InternVLConfig LoadSupportedConfig(string source)
    {
        string configPath = Path.Combine(source, "config.json");
        var config = LoadBuiltArchitecture(source);
        QwenDecoderGraph.CheckSupported(config.LlmConfig, configPath);
        if (config.ProjectorHiddenAct != "gelu")
            throw new CheckpointException(configPath, $"projector_hidden_act '{config.ProjectorHiddenAct}' is not supported; the InternVL projector uses gelu (exact erf GELU)");
        if (config.VisionFeatureSelectStrategy != "default")
            throw new CheckpointException(configPath, $"vision_feature_select_strategy '{config.VisionFeatureSelectStrategy}' is not supported; InternVL uses 'default' (the CLS token dropped)");
        if (config.PsVersion != "v2" && config.PsVersion != "v1")
            throw new CheckpointException(configPath, $"ps_version '{config.PsVersion}' is not supported");
        if (config.VisionConfig.HiddenAct != "gelu")
            throw new CheckpointException(configPath, $"vision_config.hidden_act '{config.VisionConfig.HiddenAct}' is not supported (InternViT uses gelu)");
        return config;
    }

    /// <summary>The config, when it names the architectures the converter has graph builders for.</summary>
    private static InternVLConfig LoadBuiltArchitecture(string source)
    {
        string configPath = Path.Combine(source, "config.json");
        var config = InternVLConfig.Load(source);
        string architecture = config.Architectures.FirstOrDefault() ?? "(none)";
        string expected = config.Layout == CheckpointLayout.HuggingFace ? "InternVLForConditionalGeneration" : "InternVLChatModel";
        if (architecture != expected)
            throw new CheckpointException(configPath, $"architectures[0] is '{architecture}'; the converter reads InternVLChatModel (the original layout, llm_config) " +
                "and InternVLForConditionalGeneration (the Hugging Face-native layout, text_config)");
        RefuseFlashVariant(configPath);
        string llm = config.LlmConfig.Architectures[0];
        string llmField = config.Layout == CheckpointLayout.HuggingFace ? "text_config" : "llm_config";
        if (UnsupportedLlmArchitectures.TryGetValue(llm, out var family))
            throw new CheckpointException(configPath,
                $"{llmField}.architectures[0] is '{llm}': {family.Family} language models are not supported yet ({family.Models}); supported: {string.Join(", ", SupportedLlmArchitectures)} (InternVL2.5, InternVL3 and the dense InternVL3.5 sizes)");
        if (!SupportedLlmArchitectures.Contains(llm))
            throw new CheckpointException(configPath, $"{llmField}.architectures[0] '{llm}' is not supported yet; supported: {string.Join(", ", SupportedLlmArchitectures)}");
        return config;
    }

    /// <summary>
    /// InternVL3.5's Flash variants add a visual resolution router (ViR: <c>pooling_before_gating</c>, <c>gating</c> and a
    /// second projector <c>mlp2</c> that keeps 64 tokens per tile instead of 256); their config.json says so with
    /// <c>flash_mode</c> and the router's <c>flash_relative_threshold</c> / <c>flash_absolute_threshold</c>.
    /// </summary>
    private static void RefuseFlashVariant(string configPath)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(configPath), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        var root = document.RootElement;
        string? field = null;
        if (root.TryGetProperty("flash_mode", out var mode) && mode.ValueKind is not (JsonValueKind.Null or JsonValueKind.False)) field = "flash_mode";
        else if (root.TryGetProperty("flash_relative_threshold", out _)) field = "flash_relative_threshold";
        else if (root.TryGetProperty("flash_absolute_threshold", out _)) field = "flash_absolute_threshold";
        if (field is not null)
            throw new CheckpointException(configPath,
                $"this is an InternVL3.5 Flash checkpoint (config.json has {field}): its visual resolution router (ViR) is not supported yet; convert the model without -Flash (e.g. OpenGVLab/InternVL3_5-1B)");
    }

    /// <summary>Ids of the image markers from the tokenizer, and EOS / pad from the configs.</summary>
    private static ManifestSpecialTokens ResolveSpecialTokens(string source, InternVLConfig config, Qwen2Tokenizer tokenizer)
    {
        int Require(string content) => tokenizer.TokenToId(content)
            ?? throw new CheckpointException(source, $"the tokenizer has no added token '{content}', which InternVL needs to place image features");
        int? pad = null;
        string generation = Path.Combine(source, "generation_config.json");
        if (File.Exists(generation))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(generation));
            if (doc.RootElement.TryGetProperty("pad_token_id", out var p) && p.ValueKind == JsonValueKind.Number) pad = p.GetInt32();
        }
        var eos = config.LlmConfig.EosTokenIds.ToArray();
        if (eos.Length == 0)
            throw new CheckpointException(Path.Combine(source, "config.json"), "llm_config.eos_token_id is missing; generation would not know when to stop");
        int vocab = config.LlmConfig.VocabSize;
        int start = Require("<img>"), end = Require("</img>"), context = Require("<IMG_CONTEXT>");
        if (config.ImageTokenId is int imageToken && imageToken != context)
            throw new CheckpointException(Path.Combine(source, "config.json"),
                $"image_token_id {imageToken} is not the tokenizer's <IMG_CONTEXT> ({context}); the config and the tokenizer belong to different models");
        var ids = new List<(string, int)> { ("<img>", start), ("</img>", end), ("<IMG_CONTEXT>", context) };
        foreach (int id in eos) ids.Add(("eos_token_id", id));
        foreach (var (name, id) in ids)
            if ((uint)id >= (uint)vocab)
                throw new CheckpointException(source, $"token {name} has id {id}, outside llm_config.vocab_size {vocab}");
        return new ManifestSpecialTokens
        {
            ImageStart = start,
            ImageEnd = end,
            ImageContext = context,
            Eos = eos,
            Pad = pad,
        };
    }

    private static ManifestSource DescribeSource(string source, InternVLConfig config, SafetensorsCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        var names = new List<string> { "config.json" };
        // The Hugging Face-native layout keeps the tiling limits beside the config.
        if (config.Layout == CheckpointLayout.HuggingFace && File.Exists(Path.Combine(source, HuggingFaceConfig.PreprocessorConfigFile)))
            names.Add(HuggingFaceConfig.PreprocessorConfigFile);
        if (File.Exists(Path.Combine(source, SafetensorsCheckpoint.IndexFileName))) names.Add(SafetensorsCheckpoint.IndexFileName);
        foreach (var file in checkpoint.Files) names.Add(Path.GetFileName(file.Path));
        var files = new List<ManifestFile>();
        var summary = new StringBuilder();
        foreach (string name in names)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string path = Path.Combine(source, name);
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            string sha = System.Convert.ToHexStringLower(SHA256.HashData(stream));
            files.Add(new ManifestFile(name, stream.Length, sha));
            summary.Append(name).Append(' ').Append(sha).Append('\n');
        }
        return new ManifestSource
        {
            Architecture = config.Architectures[0],
            Layout = config.Layout == CheckpointLayout.HuggingFace ? ManifestSource.HuggingFaceLayout : ManifestSource.OriginalLayout,
            LlmArchitecture = config.LlmConfig.Architectures[0],
            Sha256 = System.Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(summary.ToString()))),
            Files = files.ToArray(),
        };
    }

    /// <summary>A builder that forgets a declared tensor is a bug; vision layers past select_layer are the one allowed gap.</summary>
    private static void CheckEveryWeightUsed(ExpectedTensor[] expected, HashSet<string> used, InternVitGraph vision)
    {
        foreach (var tensor in expected)
            if (!used.Contains(tensor.Name) && !vision.IsSkippedLayerWeight(tensor.Name))
                throw new InvalidOperationException($"internal error: the converter declared '{tensor.Name}' but did not use it");
    }

    private static ModelManifest BuildManifest(InternVLConfig config, InternVitGraph vision, QwenDecoderGraph decoder, ManifestSource source,
        SafetensorsTensorInfo embeddings, string[] tokenizerFiles, ManifestSpecialTokens specialTokens, ConversionOptions options)
    {
        var l = config.LlmConfig;
        return new ModelManifest
        {
            CreatedBy = $"InternVit.SK {Version}",
            Source = source,
            Precision = options.Precision,
            Template = config.Template,
            Image = new ManifestImage
            {
                ImageSize = config.ImageSize,
                PatchSize = config.VisionConfig.PatchSize,
                TokensPerTile = config.TokensPerTile,
                MinTiles = config.MinDynamicPatch,
                MaxTiles = config.MaxDynamicPatch,
                UseThumbnail = config.UseThumbnail,
                DynamicImageSize = config.DynamicImageSize,
                Mean = [0.485f, 0.456f, 0.406f],
                Std = [0.229f, 0.224f, 0.225f],
            },
            Vision = new ManifestGraph { File = VisionFile, Inputs = Ports(vision.Inputs), Outputs = Ports(vision.Outputs) },
            Decoder = new ManifestDecoder
            {
                File = DecoderFile,
                Inputs = Ports(decoder.Inputs),
                Outputs = Ports(decoder.Outputs),
                Architecture = l.Architectures[0],
                Layers = l.NumHiddenLayers,
                HiddenSize = l.HiddenSize,
                Heads = l.NumAttentionHeads,
                KeyValueHeads = l.KeyValueHeads,
                HeadDim = l.HeadDim,
                VocabSize = l.VocabSize,
                MaxPositionEmbeddings = l.MaxPositionEmbeddings,
                RopeTheta = l.RopeTheta,
                RmsNormEps = l.RmsNormEps,
            },
            Prefill = HasPrefillGraph(options.Precision)
                ? new ManifestGraph { File = PrefillFile, Inputs = Ports(decoder.Inputs), Outputs = Ports(decoder.Outputs) }
                : null,
            Embeddings = new ManifestEmbeddings { File = EmbeddingsFile, Tensor = embeddings.Name, Dtype = embeddings.Dtype.ToString(), Shape = embeddings.Shape },
            Tokenizer = new ManifestTokenizer { Files = tokenizerFiles },
            SpecialTokens = specialTokens,
        };
    }

    private static ManifestPort[] Ports(GraphPort[] ports)
    {
        var result = new ManifestPort[ports.Length];
        for (int i = 0; i < ports.Length; i++)
        {
            var shape = new JsonArray();
            foreach (var d in ports[i].Dims) shape.Add(d.Symbol is null ? JsonValue.Create(d.Value) : JsonValue.Create(d.Symbol));
            result[i] = new ManifestPort(ports[i].Name, ports[i].Type == OnnxDataType.Float ? "float32" : ports[i].Type.ToString().ToLowerInvariant(), shape);
        }
        return result;
    }

    /// <summary>Moves the finished folder into place; an old model folder is moved aside first and removed after.</summary>
    private static void Publish(string staging, string output)
    {
        string? old = null;
        if (Directory.Exists(output))
        {
            old = Path.Combine(Path.GetDirectoryName(output)!, $".{Path.GetFileName(output)}.{Guid.NewGuid():N}.old");
            Directory.Move(output, old);
        }
        try
        {
            Directory.Move(staging, output);
        }
        catch
        {
            if (old is not null) Directory.Move(old, output);
            throw;
        }
        if (old is not null) TryDelete(old);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
