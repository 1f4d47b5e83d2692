using System.Collections.Concurrent;
using InternVit.SK.Export;
using InternVit.SK.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Onnx;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OrtGlobalCollection
{
    /// <summary>Tests that change process-wide state (the ORT logger) or measure the process (RSS) run alone.</summary>
    public const string Name = "ort-global";
}

/// <summary>A logger provider that keeps every message, for asserting what ORT logged.</summary>
internal sealed class CollectingLoggerProvider : ILoggerProvider, ILoggerFactory
{
    public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Messages { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Collector(this, categoryName);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    private sealed class Collector(CollectingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Messages.Enqueue((category, logLevel, formatter(state, exception)));
    }
}

[Collection(OrtGlobalCollection.Name)]
public class OrtGlobalTests(ITestOutputHelper output)
{
    private static string AddModel(TempDir dir, int elements = 4)
    {
        string path = dir.File("add.onnx");
        using var g = new OnnxGraphBuilder(path, "add");
        string x = g.Input("x", OnnxDataType.Float, elements);
        g.Output(g.Add("/add", x, x), "y", OnnxDataType.Float, elements);
        g.Save();
        return path;
    }

    [Fact]
    public void Runtime_is_1_32_from_the_NuGet_package_with_CPU_provider()
    {
        Assert.Equal("1.32.0", OrtEnvironment.Version);
        Assert.Contains("CPUExecutionProvider", OrtEnvironment.AvailableProviders);
        // The natives come from Microsoft.ML.OnnxRuntime's runtimes/<rid>/native folder, copied next to the tests.
        string native = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libonnxruntime.so");
        Assert.True(File.Exists(native) || File.Exists(Path.Combine(AppContext.BaseDirectory, "libonnxruntime.so")), native);
    }

    /// <summary>Runs <paramref name="test"/> with ORT's messages collected, then restores the default (no) logger.</summary>
    private static void WithOrtLogs(Action<CollectingLoggerProvider> test)
    {
        var logs = new CollectingLoggerProvider();
        OrtEnvironment.Configure(new OrtEnvironmentOptions { LoggerFactory = logs });
        try
        {
            test(logs);
        }
        finally
        {
            OrtEnvironment.Configure(new OrtEnvironmentOptions());
        }
    }

    [Fact]
    public void Ort_log_messages_reach_ILogger() => WithOrtLogs(logs =>
    {
        using var dir = new TempDir();
        using var session = OrtSession.Create(AddModel(dir), new OrtSessionOptions { LogLevel = LogLevel.Trace });
        Assert.Contains(logs.Messages, m => m.Category == "OnnxRuntime" && m.Level == LogLevel.Debug && m.Message.Length > 0);
    });

    [Fact]
    public void Cuda_request_falls_back_to_cpu_visibly_when_the_provider_is_missing() => WithOrtLogs(logs =>
    {
        using var dir = new TempDir();
        using var session = OrtSession.Create(AddModel(dir), new OrtSessionOptions { ExecutionProvider = OrtExecutionProvider.Cuda });
        // The CPU package (what the tests reference) has no CUDA provider: ORT says so, we log it and run on the CPU.
        Assert.DoesNotContain("CUDAExecutionProvider", OrtEnvironment.AvailableProviders);
        Assert.Equal(OrtExecutionProvider.Cpu, session.ExecutionProvider);
        Assert.False(string.IsNullOrWhiteSpace(session.ProviderFallbackReason));
        Assert.Contains(logs.Messages, m => m.Level == LogLevel.Warning && m.Message.Contains("CUDA execution provider unavailable"));
        using var x = TestTensors.Of(new float[] { 1, 2, 3, 4 }, 4);
        var outputs = session.Run([("x", x)], ["y"]);
        using var y = outputs[0];
        Assert.Equal(new float[] { 2, 4, 6, 8 }, y.ToArray<float>());
    });

    [Fact]
    public void Optimized_model_path_and_profiling_write_files()
    {
        using var dir = new TempDir();
        string optimized = dir.File("optimized.onnx");
        using var session = OrtSession.Create(AddModel(dir), new OrtSessionOptions
        {
            OptimizedModelPath = optimized,
            ProfilingPrefix = dir.File("profile"),
            OptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        });
        using var x = TestTensors.Of(new float[] { 1, 2, 3, 4 }, 4);
        session.Run([("x", x)], ["y"])[0].Dispose();
        string profile = session.EndProfiling();
        Assert.True(File.Exists(optimized));
        Assert.True(File.Exists(profile), profile);
        Assert.Contains("\"name\"", File.ReadAllText(profile));
    }

    [Fact]
    public void Thousand_sessions_and_values_leave_rss_flat()
    {
        using var dir = new TempDir();
        const int elements = 256 * 1024; // 1 MiB per tensor: a leak of any of them would add ~1 GiB over the loop
        string model = AddModel(dir, elements);
        var input = new float[elements];

        void Iteration()
        {
            using var session = OrtSession.Create(model, new OrtSessionOptions { IntraOpThreads = 1 });
            using var x = TestTensors.Of(input, elements);
            using var allocated = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, [elements]);
            var outputs = session.Run([("x", x)], ["y"]);
            outputs[0].Dispose();
        }

        for (int i = 0; i < 100; i++) Iteration();
        long before = TestPaths.ResidentBytes();
        for (int i = 0; i < 1000; i++) Iteration();
        long after = TestPaths.ResidentBytes();
        long growth = after - before;
        output.WriteLine($"RSS after 100 warm-up iterations {before >> 20} MiB, after 1000 more {after >> 20} MiB (growth {growth / 1024} KiB)");
        Assert.True(growth < 64L << 20, $"RSS grew by {growth >> 20} MiB over 1000 sessions and 3000 values ({before >> 20} -> {after >> 20} MiB)");
    }

    /// <summary>
    /// The environment fixes glibc's mmap threshold (see <see cref="OrtEnvironmentOptions.MallocMmapThreshold"/>):
    /// mallopt must be reached through the binding and accept the value. Its effect on resident memory is
    /// measured by <c>internvl bench</c> (peak RSS); inside a test process that has already grown its heap, where a
    /// large block comes from depends on earlier allocations, so it is not asserted here.
    /// </summary>
    [Fact]
    public void Mallopt_is_reached_and_accepts_the_default_threshold()
    {
        Assert.Equal(128 * 1024, new OrtEnvironmentOptions().MallocMmapThreshold);
        Assert.True(GlibcMalloc.TrySetMmapThreshold(128 * 1024), "mallopt(M_MMAP_THRESHOLD, 128 KiB) failed on glibc");
    }
}

