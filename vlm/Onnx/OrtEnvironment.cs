using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace InternVit.SK.Onnx;

/// <summary>Process-wide ONNX Runtime settings, applied when the runtime is first used.</summary>
public sealed record OrtEnvironmentOptions
{
    /// <summary>Where ORT's own log messages go (category <c>OnnxRuntime</c>).</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>The least severe ORT message that is passed on. Applies only before the runtime is first used.</summary>
    public LogLevel MinimumLevel { get; init; } = LogLevel.Warning;

    /// <summary>
    /// On Linux with glibc: the request size from which malloc maps memory of its own, returned to the system on free
    /// (<c>M_MMAP_THRESHOLD</c>), fixed when the environment is created. By default glibc raises this threshold to the
    /// largest mapped block freed so far; after a model has freed one large buffer (an image's activations, a KV cache),
    /// later ones come from heaps that are not given back, and resident memory creeps up request after request (at the
    /// InternVL2.5-1B shape, int4, the bench's peak was 1.32× the weight bytes without this and 1.23× with it).
    /// Default 128 KiB, glibc's initial value, kept fixed; null leaves malloc as it is. The setting is process-wide.
    /// </summary>
    public int? MallocMmapThreshold { get; init; } = 128 * 1024;

    /// <summary>
    /// Sets <c>ORT_DISABLE_TELEMETRY=1</c> for the process before the runtime starts (unless the variable is already
    /// set), so ONNX Runtime neither records nor uploads telemetry, and on Linux does not scan the process's command line
    /// with a recursive regex that overflows the stack for command lines of ~29,000 characters. Default on: the
    /// engine runs models locally and sends nothing anywhere.
    /// </summary>
    public bool DisableTelemetry { get; init; } = true;
}

/// <summary>
/// The process-wide ONNX Runtime environment (Microsoft.ML.OnnxRuntime's one <see cref="OrtEnv"/>): created on first
/// use with ORT's log messages routed to <see cref="ILogger"/>, and the runtime's version and providers.
/// </summary>
/// <remarks>
/// The engine references only <c>Microsoft.ML.OnnxRuntime.Managed</c>; the application chooses the natives:
/// <c>Microsoft.ML.OnnxRuntime</c> (CPU) or <c>Microsoft.ML.OnnxRuntime.Gpu.Linux</c> (CUDA 13 + cuDNN 9).
/// </remarks>
public static class OrtEnvironment
{
    private static readonly Lock Gate = new();
    private static OrtEnvironmentOptions s_options = new();
    private static ILogger s_logger = NullLogger.Instance;
    private static OrtEnv? s_env;

    /// <summary>
    /// Sets the logger and level. The level and the malloc setting apply only before the runtime is first used; the
    /// logger can be replaced at any time.
    /// </summary>
    public static void Configure(OrtEnvironmentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        lock (Gate)
        {
            s_options = options;
            s_logger = options.LoggerFactory?.CreateLogger("OnnxRuntime") ?? NullLogger.Instance;
        }
    }

    /// <summary>ONNX Runtime's version string, e.g. <c>1.32.0</c>. Loads the runtime.</summary>
    /// <exception cref="OrtLibraryNotFoundException">No ONNX Runtime native library is deployed with the application.</exception>
    public static string Version => Env.GetVersionString();

    /// <summary>
    /// Execution providers compiled into the runtime (e.g. CUDAExecutionProvider, CPUExecutionProvider). Compiled in
    /// is not usable: CUDA also needs its provider library and a GPU, which session creation checks.
    /// </summary>
    /// <exception cref="OrtLibraryNotFoundException">No ONNX Runtime native library is deployed with the application.</exception>
    public static IReadOnlyList<string> AvailableProviders => Env.GetAvailableProviders();

    internal static ILogger Logger => s_logger;

    /// <summary>The environment, created on first use with the options configured by then.</summary>
    internal static OrtEnv Env
    {
        get
        {
            var env = Volatile.Read(ref s_env);
            if (env is not null) return env;
            lock (Gate) return s_env ??= Create();
        }
    }

    private static OrtEnv Create()
    {
        if (s_options.DisableTelemetry) OrtTelemetry.DisableForThisProcess();
        if (s_options.MallocMmapThreshold is { } threshold && !GlibcMalloc.TrySetMmapThreshold(threshold))
            s_logger.LogDebug("malloc's mmap threshold was not set (not glibc)");
        var options = new EnvironmentCreationOptions
        {
            logLevel = ToOrtLevel(s_options.MinimumLevel),
            loggingFunction = OnLog,
            logId = "internvl",
        };
        try
        {
            return OrtEnv.CreateInstanceWithOptions(ref options);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            throw new OrtLibraryNotFoundException(
                "the ONNX Runtime native library could not be loaded; the application must reference Microsoft.ML.OnnxRuntime " +
                "(CPU) or Microsoft.ML.OnnxRuntime.Gpu.Linux (CUDA) 1.32, or deploy libonnxruntime next to it", e);
        }
        catch (OnnxRuntimeException e)
        {
            throw OrtException.From(e);
        }
    }

    internal static OrtLoggingLevel ToOrtLevel(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE,
        LogLevel.Information => OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO,
        LogLevel.Warning => OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
        LogLevel.Error => OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        _ => OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
    };

    private static LogLevel FromOrtLevel(OrtLoggingLevel severity) => severity switch
    {
        OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE => LogLevel.Debug,
        OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO => LogLevel.Information,
        OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING => LogLevel.Warning,
        OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR => LogLevel.Error,
        _ => LogLevel.Critical,
    };

    /// <summary>ORT's logging callback (called from native code: nothing may escape from here).</summary>
    private static void OnLog(nint param, OrtLoggingLevel severity, string category, string logId, string codeLocation, string message)
    {
        try
        {
            var logger = s_logger;
            var level = FromOrtLevel(severity);
            if (!logger.IsEnabled(level)) return;
            logger.Log(level, "[{Category} {LogId}] {Message} ({CodeLocation})", category, logId, message, codeLocation);
        }
        catch
        {
            // An exception must never unwind into native code; a failing logger loses the message.
        }
    }
}
