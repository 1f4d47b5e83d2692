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
