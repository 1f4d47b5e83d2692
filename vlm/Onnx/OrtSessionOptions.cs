using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace InternVit.SK.Onnx;

/// <summary>Where a session's kernels run.</summary>
public enum OrtExecutionProvider
{
    /// <summary>The CPU.</summary>
    Cpu,
    /// <summary>An NVIDIA GPU through CUDA, falling back to the CPU (logged, and visible on the session) when unavailable.</summary>
    Cuda,
}

/// <summary>How to create an <see cref="OrtSession"/>.</summary>
internal sealed record OrtSessionOptions
{
    /// <summary>Threads for one operator; 0 lets ORT choose (one per physical core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads across independent operators; 0 lets ORT choose.</summary>
    public int InterOpThreads { get; init; }

    /// <summary>Graph optimization level.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>When set, ORT writes the optimized graph to this path.</summary>
    public string? OptimizedModelPath { get; init; }

    /// <summary>Preferred execution provider.</summary>
    public OrtExecutionProvider ExecutionProvider { get; init; } = OrtExecutionProvider.Cpu;

    /// <summary>GPU ordinal for <see cref="OrtExecutionProvider.Cuda"/>.</summary>
    public int CudaDeviceId { get; init; }

    /// <summary>
    /// Whether idle worker threads spin-wait. Off by default: on small machines spinning threads steal the cores the
    /// next kernel needs.
    /// </summary>
    public bool AllowSpinning { get; init; }

    /// <summary>When set, ORT writes a profile whose file name starts with this prefix (see <see cref="OrtSession.EndProfiling"/>).</summary>
    public string? ProfilingPrefix { get; init; }

    /// <summary>The least severe message this session logs; null keeps the environment's level.</summary>
    public LogLevel? LogLevel { get; init; }

    /// <summary>Extra session configuration entries (<c>AddSessionConfigEntry</c>), e.g. <c>session.use_env_allocators</c>.</summary>
    public IReadOnlyDictionary<string, string>? ConfigEntries { get; init; }
}
