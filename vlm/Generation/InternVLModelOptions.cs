using InternVit.SK.ModelFolder;
using InternVit.SK.Onnx;

namespace InternVit.SK.Generation;

/// <summary>How <see cref="InternVLModel.LoadAsync"/> loads a model.</summary>
public sealed record InternVLModelOptions
{
    /// <summary>
    /// Where original checkpoints are converted to (one sub-folder per checkpoint, reused on later loads). Default:
    /// <c>$INTERNVL_CACHE</c>, else <c>$XDG_CACHE_HOME/internvit-sk</c>, else <c>~/.cache/internvit-sk</c>.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Execution provider preference; CUDA falls back to the CPU with a logged warning when unavailable.</summary>
    public OrtExecutionProvider ExecutionProvider { get; init; } = OrtExecutionProvider.Cpu;

    /// <summary>Threads per operator (0: ONNX Runtime's default).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Default most tiles per image (null: the checkpoint's <c>max_dynamic_patch</c>); 1..40.</summary>
    public int? MaxTiles { get; init; }

    /// <summary>Most tokens a conversation may hold, prompt and answer together (null: the model's context window).</summary>
    public int? MaxContextTokens { get; init; }

    /// <summary>Precision used when an original checkpoint has to be converted.</summary>
    public Precision ConversionPrecision { get; init; } = Precision.Fp32;

    /// <summary>
    /// Most bytes of image features the model keeps for images seen again (keyed by the image's bytes and every setting
    /// that changes its features; least recently used go first): a repeated image costs a hash and a lookup instead of
    /// a decode, tiling and a vision pass. Default 256 MiB (a 13-tile image at InternVL2.5-1B's width takes 11.4 MiB);
    /// 0 turns the cache off.
    /// </summary>
    public long ImageCacheBytes { get; init; } = DefaultImageCacheBytes;

    /// <summary>
    /// Most KV caches the model keeps after a generation for prefix reuse: a later request whose prompt starts with a
    /// kept sequence (same tokens, same images) prefills only the rest, as a chat client resending its history does.
    /// Default 4; 0 turns prefix reuse off.
    /// </summary>
    public int PromptCacheEntries { get; init; } = DefaultPromptCacheEntries;

    /// <summary>
    /// Most bytes of the kept KV caches, each counted at its capacity (prompt plus answer budget); least recently used go
    /// first. Default 512 MiB (a 13-tile prompt with a 512-token answer budget takes about 100 MiB at InternVL2.5-1B's
    /// shape; raise it for larger models); 0 turns prefix reuse off.
    /// </summary>
    public long PromptCacheBytes { get; init; } = DefaultPromptCacheBytes;

    /// <summary>Default of <see cref="ImageCacheBytes"/>: 256 MiB.</summary>
    public const long DefaultImageCacheBytes = 256L << 20;

    /// <summary>Default of <see cref="PromptCacheEntries"/>: 4.</summary>
    public const int DefaultPromptCacheEntries = 4;

    /// <summary>Default of <see cref="PromptCacheBytes"/>: 512 MiB.</summary>
    public const long DefaultPromptCacheBytes = 512L << 20;

    /// <summary>
    /// When set, ONNX Runtime profiles every run of every graph, for performance investigations (profiling slows runs
    /// down). Each graph writes its own JSON trace (Chrome trace format, kernel times per node) named
    /// <c>{ProfilingPrefix}-{graph}_{date}_{time}_{ms}.json</c>, where graph is <c>vision</c>, <c>decoder</c> (the decode
    /// steps, and prompts too unless the folder has a prefill graph) or <c>prefill</c> (the prompts, for folders converted
    /// with <c>int4-prefill8</c>). Each file is created when the model loads and is complete once the model is
    /// disposed; the folder must exist. Example: <c>/tmp/profiles/run1</c> gives <c>/tmp/profiles/run1-vision_2026-01-31_12-00-00_123.json</c>.
    /// </summary>
    public string? ProfilingPrefix { get; init; }

    internal OrtSessionOptions SessionOptions() => new() { ExecutionProvider = ExecutionProvider, IntraOpThreads = IntraOpThreads, ProfilingPrefix = ProfilingPrefix };

    internal static string DefaultCacheDirectory()
    {
        string? explicitPath = Environment.GetEnvironmentVariable("INTERNVL_CACHE");
        if (!string.IsNullOrEmpty(explicitPath)) return explicitPath;
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "internvit-sk");
    }
}
