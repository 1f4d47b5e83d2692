using InternVit.SK.Generation;
using InternVit.SK.Onnx;
using InternVit.SK.Plugin;

namespace InternVit.SK.SemanticKernel;

/// <summary>
/// Settings of a local InternVL model in a kernel: how it loads, which images its chat service and its vision plugin
/// may read, and how many tokens they spend. Set them in code (the <c>configure</c> argument of
/// <c>AddInternVLChatCompletion</c>) or bind them from configuration (same names as the hosting package's
/// <c>InternVL</c> section). Checked when registered; every problem is reported with the setting's name.
/// </summary>
public sealed class InternVLKernelOptions : ImageAccessSettings
{
    /// <summary>A converted model folder, or an original InternVL checkpoint (converted once into <see cref="CacheDirectory"/>). Required unless a loaded model is given.</summary>
    public string ModelPath { get; set; } = "";

    /// <summary>The model id the chat service reports (default: the model folder's name).</summary>
    public string? ModelId { get; set; }

    /// <summary>Where original checkpoints are converted to (default: ~/.cache/internvit-sk).</summary>
    public string? CacheDirectory { get; set; }

    /// <summary><see cref="OrtExecutionProvider.Cpu"/> (default) or <see cref="OrtExecutionProvider.Cuda"/> (falls back to the CPU with a warning when unavailable).</summary>
    public OrtExecutionProvider ExecutionProvider { get; set; } = OrtExecutionProvider.Cpu;

    /// <summary>Threads per operator (0: ONNX Runtime's default).</summary>
    public int Threads { get; set; }

    /// <summary>Default most tiles per image (null: the checkpoint's); a request's <c>max_tiles</c> overrides it for the chat service.</summary>
    public int? MaxTiles { get; set; }

    /// <summary>Most tokens a chat answer has when the request sets no <c>max_tokens</c>, and most tokens one vision tool call generates (default 512).</summary>
    public int MaxOutputTokens { get; set; } = 512;

    /// <summary>Most pages <c>answer_document_question</c> accepts (default 8).</summary>
    public int MaxPages { get; set; } = 8;

    /// <summary>Checks the settings (the model path only when the model is to be loaded from it); throws one exception naming every problem.</summary>
    internal void Validate(bool needsModelPath)
    {
        var problems = new List<string>();
        if (needsModelPath && string.IsNullOrWhiteSpace(ModelPath)) problems.Add("ModelPath is required (a converted model folder or an original InternVL checkpoint)");
        if (!Enum.IsDefined(ExecutionProvider)) problems.Add($"ExecutionProvider {ExecutionProvider} is neither Cpu nor Cuda");
        if (Threads < 0) problems.Add($"Threads must be 0 (default) or more, not {Threads}");
        if (MaxTiles is < 1 or > Imaging.Tiling.TilingOptions.MaxSupportedTiles)
            problems.Add($"MaxTiles must be between 1 and {Imaging.Tiling.TilingOptions.MaxSupportedTiles}, not {MaxTiles}");
        if (MaxOutputTokens < 1) problems.Add($"MaxOutputTokens must be at least 1, not {MaxOutputTokens}");
        AddImageAccessProblems(problems);
        if (MaxPages < 1) problems.Add($"MaxPages must be at least 1, not {MaxPages}");
        if (problems.Count > 0) throw new ArgumentException("InternVL: " + string.Join("; ", problems));
    }

    internal InternVLModelOptions ToModelOptions() => new()
    {
        CacheDirectory = CacheDirectory,
        ExecutionProvider = ExecutionProvider,
        IntraOpThreads = Threads,
        MaxTiles = MaxTiles,
    };

    internal InternVLChatClientOptions ToChatClientOptions() => new()
    {
        ModelId = ModelId,
        ImageSources = ToImageSources(),
        DefaultMaxOutputTokens = MaxOutputTokens,
    };

    internal VisionToolsOptions ToVisionToolsOptions() => new()
    {
        ImageSources = ToImageSources(),
        MaxOutputTokens = MaxOutputTokens,
        MaxTiles = MaxTiles,
        MaxPages = MaxPages,
    };
}
