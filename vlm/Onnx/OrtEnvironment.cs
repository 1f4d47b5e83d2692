using System.Runtime.InteropServices;
using InternVit.SK.Onnx.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace InternVit.SK.Onnx;

/// <summary>Process-wide ONNX Runtime settings, applied when the runtime is first used.</summary>
public sealed record OrtEnvironmentOptions
{
    /// <summary>Path of <c>libonnxruntime.so.1</c>; when null the environment variable <c>INTERNVL_ORT_LIBRARY</c>, the application folder and <c>.native/</c> are searched.</summary>
    public string? LibraryPath { get; init; }

    /// <summary>Where ORT's own log messages go (category <c>OnnxRuntime</c>).</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>The least severe ORT message that is passed on (sessions may ask for more detail, see <see cref="OrtSessionOptions.LogLevel"/>).</summary>
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
}

/// <summary>
/// The process-wide ONNX Runtime environment (one <c>OrtEnv</c>, as ORT requires): loads the native library,
/// routes ORT's log messages to <see cref="ILogger"/>, and reports the runtime's version and providers.
/// </summary>
public static unsafe class OrtEnvironment
{
    private static readonly Lock Gate = new();
    private static OrtEnvironmentOptions s_options = new();
    private static ILogger s_logger = NullLogger.Instance;
    private static OrtEnvHandle? s_env;
    private static OrtMemoryInfoHandle? s_cpuMemory;

    /// <summary>
    /// Sets the library path, logger and level. The library path and level apply only before the runtime is first
    /// used; the logger can be replaced at any time.
    /// </summary>
    /// <exception cref="InvalidOperationException">The runtime is already loaded from a different path.</exception>
    public static void Configure(OrtEnvironmentOptions options)
    {
        lock (Gate)
        {
            if (OrtLibrary.IsLoaded && options.LibraryPath is not null
                && Path.GetFullPath(options.LibraryPath) != OrtLibrary.LoadedPath)
                throw new InvalidOperationException($"ONNX Runtime is already loaded from '{OrtLibrary.LoadedPath}'; a process can load it once.");
            s_options = options;
            OrtLibrary.ExplicitPath = options.LibraryPath;
            s_logger = options.LoggerFactory?.CreateLogger("OnnxRuntime") ?? NullLogger.Instance;
        }
    }

    /// <summary>ONNX Runtime's version string, e.g. <c>1.30.0</c>. Loads the runtime.</summary>
    public static string Version => OrtLibrary.Version;

    /// <summary>The file the runtime was loaded from. Loads the runtime.</summary>
    public static string LibraryPath
    {
        get
        {
            _ = OrtLibrary.Api;
            return OrtLibrary.LoadedPath;
        }
    }

    /// <summary>ORT's build information string.</summary>
    public static string BuildInfo => Utf8.Decode(OrtLibrary.Api.GetBuildInfoString());

    /// <summary>
    /// Execution providers compiled into the runtime (e.g. CUDAExecutionProvider, CPUExecutionProvider). Compiled in
    /// is not usable: CUDA also needs its provider library and a GPU, which session creation checks.
    /// </summary>
    public static IReadOnlyList<string> AvailableProviders
    {
        get
        {
            var api = OrtLibrary.Api;
            byte** names;
            int count;
            OrtStatus.ThrowIfFailed(api.GetAvailableProviders(&names, &count));
            try
            {
                var result = new string[count];
                for (int i = 0; i < count; i++) result[i] = Utf8.Decode(names[i]);
                return result;
            }
            finally
            {
                OrtStatus.ThrowIfFailed(api.ReleaseAvailableProviders(names, count));
            }
        }
    }

    internal static ILogger Logger => s_logger;

    /// <summary>The <c>OrtEnv</c>, created on first use with the options configured by then.</summary>
    internal static OrtEnvHandle Env => Volatile.Read(ref s_env) ?? Once(ref s_env, CreateEnv);

    /// <summary>The CPU memory description used for tensors over managed memory.</summary>
    internal static OrtMemoryInfoHandle CpuMemory => Volatile.Read(ref s_cpuMemory) ?? Once(ref s_cpuMemory, CreateCpuMemoryInfo);

    /// <summary>Creates a process-wide object once; a failure is not remembered, so a later call (after Configure) retries.</summary>
    private static T Once<T>(ref T? field, Func<T> create) where T : class
    {
        lock (Gate) return field ??= create();
    }

    private static OrtEnvHandle CreateEnv()
    {
        if (s_options.MallocMmapThreshold is { } threshold && !GlibcMalloc.TrySetMmapThreshold(threshold))
            s_logger.LogDebug("malloc's mmap threshold was not set (not glibc)");
        nint pointer;
        int level = ToOrtLevel(s_options.MinimumLevel);
        fixed (byte* id = "internvl"u8)
            OrtStatus.ThrowIfFailed(OrtLibrary.Api.CreateEnvWithCustomLogger(&OnLog, 0, level, id, &pointer));
        return OrtHandle.Own<OrtEnvHandle>(pointer);
    }

    private static OrtMemoryInfoHandle CreateCpuMemoryInfo()
    {
        nint pointer;
        // OrtDeviceAllocator = 0, OrtMemTypeDefault = 0
        OrtStatus.ThrowIfFailed(OrtLibrary.Api.CreateCpuMemoryInfo(0, 0, &pointer));
        return OrtHandle.Own<OrtMemoryInfoHandle>(pointer);
    }

    /// <summary>ORT's default CPU allocator (owned by ORT, never released).</summary>
    internal static nint DefaultAllocator
    {
        get
        {
            nint allocator;
            OrtStatus.ThrowIfFailed(OrtLibrary.Api.GetAllocatorWithDefaultOptions(&allocator));
            return allocator;
        }
    }

    /// <summary>OrtLoggingLevel: VERBOSE 0, INFO 1, WARNING 2, ERROR 3, FATAL 4.</summary>
    internal static int ToOrtLevel(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => 0,
        LogLevel.Information => 1,
        LogLevel.Warning => 2,
        LogLevel.Error => 3,
        _ => 4,
    };

    private static LogLevel FromOrtLevel(int severity) => severity switch
    {
        0 => LogLevel.Debug,
        1 => LogLevel.Information,
        2 => LogLevel.Warning,
        3 => LogLevel.Error,
        _ => LogLevel.Critical,
    };

    // OrtLoggingFunction: void(void* param, OrtLoggingLevel severity, const char* category, const char* logid,
    //                          const char* code_location, const char* message)
    [UnmanagedCallersOnly]
    private static void OnLog(nint param, int severity, byte* category, byte* logId, byte* codeLocation, byte* message)
    {
        try
        {
            var logger = s_logger;
            var level = FromOrtLevel(severity);
            if (!logger.IsEnabled(level)) return;
            logger.Log(level, "[{Category} {LogId}] {Message} ({CodeLocation})",
                Utf8.Decode(category), Utf8.Decode(logId), Utf8.Decode(message), Utf8.Decode(codeLocation));
        }
        catch
        {
            // An exception must never unwind into native code; a failing logger loses the message.
        }
    }
}
