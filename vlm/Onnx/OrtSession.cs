using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace InternVit.SK.Onnx;

/// <summary>
/// A loaded graph: Microsoft.ML.OnnxRuntime's <see cref="InferenceSession"/> with what the engine adds around it —
/// the CUDA provider with a logged, visible fallback to the CPU, runs that a <see cref="CancellationToken"/> interrupts
/// (<see cref="RunOptions.Terminate"/>), the arena given back after a large run, ORT's errors as <see cref="OrtException"/>,
/// and a dispose that waits for the runs in progress. Safe to run from several threads at once.
/// </summary>
internal sealed class OrtSession : IDisposable
{
    /// <summary>ORT's run option that returns the CPU arena's memory of a run's intermediate tensors when it ends.</summary>
    private const string ArenaShrinkage = "memory.enable_memory_arena_shrinkage";

    private readonly InferenceSession _session;
    private readonly Lock _gate = new();
    private int _runs;
    private bool _disposed;

    private OrtSession(string modelPath, InferenceSession session, OrtExecutionProvider provider, string? fallbackReason)
    {
        ModelPath = modelPath;
        _session = session;
        ExecutionProvider = provider;
        ProviderFallbackReason = fallbackReason;
        InputNames = [.. session.InputNames];
        OutputNames = [.. session.OutputNames];
    }

    /// <summary>The model file.</summary>
    public string ModelPath { get; }

    /// <summary>The graph's input names in graph order.</summary>
    public IReadOnlyList<string> InputNames { get; }

    /// <summary>The graph's output names in graph order.</summary>
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Element type and dimensions of each input (-1 where free).</summary>
    public IReadOnlyDictionary<string, NodeMetadata> InputMetadata => _session.InputMetadata;

    /// <summary>The provider the session actually runs on.</summary>
    public OrtExecutionProvider ExecutionProvider { get; }

    /// <summary>Why the requested provider could not be used (null when it was used).</summary>
    public string? ProviderFallbackReason { get; }

    /// <summary>Loads <paramref name="modelPath"/> (external data next to it is found by ORT).</summary>
    /// <exception cref="OrtException">The file is missing or not a valid model, or an option is invalid.</exception>
    public static OrtSession Create(string modelPath, OrtSessionOptions? options = null)
    {
        options ??= new OrtSessionOptions();
        _ = OrtEnvironment.Env; // the environment (logger, malloc setting) before any session
        try
        {
            using var sessionOptions = new SessionOptions
            {
                IntraOpNumThreads = options.IntraOpThreads,
                InterOpNumThreads = options.InterOpThreads,
                GraphOptimizationLevel = options.OptimizationLevel,
            };
            if (options.LogLevel is { } level) sessionOptions.LogSeverityLevel = OrtEnvironment.ToOrtLevel(level);
            if (options.OptimizedModelPath is { } optimizedPath) sessionOptions.OptimizedModelFilePath = optimizedPath;
            if (options.ProfilingPrefix is { } prefix)
            {
                // The prefix first: setting EnableProfiling passes the prefix of that moment to ORT.
                sessionOptions.ProfileOutputPathPrefix = prefix;
                sessionOptions.EnableProfiling = true;
            }
            string spinning = options.AllowSpinning ? "1" : "0";
            sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning);
            sessionOptions.AddSessionConfigEntry("session.inter_op.allow_spinning", spinning);
            if (options.ConfigEntries is not null)
                foreach (var (key, value) in options.ConfigEntries) sessionOptions.AddSessionConfigEntry(key, value);

            var (provider, fallback) = (OrtExecutionProvider.Cpu, (string?)null);
            if (options.ExecutionProvider == OrtExecutionProvider.Cuda)
            {
                try
                {
                    sessionOptions.AppendExecutionProvider_CUDA(options.CudaDeviceId);
                    provider = OrtExecutionProvider.Cuda;
                }
                catch (OnnxRuntimeException e)
                {
                    fallback = OrtException.From(e).NativeMessage;
                }
                catch (EntryPointNotFoundException)
                {
                    // The CPU package's library has no CUDA entry point at all.
                    fallback = "this ONNX Runtime build has no CUDA provider: the application references Microsoft.ML.OnnxRuntime (CPU), not Microsoft.ML.OnnxRuntime.Gpu.Linux";
                }
                if (fallback is not null)
                    OrtEnvironment.Logger.LogWarning("CUDA execution provider unavailable ({Reason}); running on the CPU", fallback);
            }
            return new OrtSession(modelPath, new InferenceSession(modelPath, sessionOptions), provider, fallback);
        }
        catch (OnnxRuntimeException e)
        {
            throw OrtException.From(e);
        }
    }

    /// <summary>Runs the graph and returns the requested outputs, allocated by ORT (dispose them).</summary>
    /// <param name="inputs">Every input the graph needs, by name.</param>
    /// <param name="outputNames">The outputs to compute, in the order they are returned.</param>
    /// <param name="cancellationToken">Stops a run in progress (ORT checks between kernels).</param>
    /// <exception cref="OrtException">Unknown name, wrong shape or type, or a kernel failed.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public OrtValue[] Run(IReadOnlyList<(string Name, OrtValue Value)> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken = default)
    {
        var (names, values) = Split(inputs);
        // The values belong to the caller: the collection is not disposed, which would release them.
        var results = RunCore(runOptions => _session.Run(runOptions, names, values, outputNames), releaseScratch: false, cancellationToken);
        var outputs = new OrtValue[results.Count];
        int i = 0;
        foreach (var value in results) outputs[i++] = value;
        return outputs;
    }

    /// <summary>
    /// Runs the graph writing into caller-provided outputs (buffers reused across calls, e.g. a KV cache bound as both
    /// past and present). With <paramref name="releaseScratch"/>, the CPU arena gives the memory of this run's
    /// intermediate tensors back when the run ends (ORT's <c>memory.enable_memory_arena_shrinkage</c>), so a large run
    /// (an image, a prompt) does not keep its peak resident for the session's lifetime.
    /// </summary>
    /// <exception cref="OrtException">Unknown name, wrong shape or type, or a kernel failed.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public void Run(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, IReadOnlyList<string> outputNames, IReadOnlyList<OrtValue> outputs,
        bool releaseScratch = false, CancellationToken cancellationToken = default) =>
        RunCore(runOptions =>
        {
            _session.Run(runOptions, inputNames, inputs, outputNames, outputs);
            return true;
        }, releaseScratch, cancellationToken);

    /// <summary>Stops profiling and returns the profile file's path (needs <see cref="OrtSessionOptions.ProfilingPrefix"/>).</summary>
    public string EndProfiling() => _session.EndProfiling();

    /// <summary>Releases the session once the runs in progress have ended; later runs throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (_runs > 0) return; // the last run releases it
        }
        _session.Dispose();
    }

    private T RunCore<T>(Func<RunOptions, T> run, bool releaseScratch, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _runs++;
        }
        try
        {
            using var runOptions = new RunOptions();
            if (releaseScratch) runOptions.AddRunConfigEntry(ArenaShrinkage, "cpu:0");
            // Runs on the cancelling thread (a timer's, for CancelAfter): setting a flag cannot fail.
            using var registration = cancellationToken.UnsafeRegister(static state => ((RunOptions)state!).Terminate = true, runOptions);
            try
            {
                return run(runOptions);
            }
            catch (OnnxRuntimeException e)
            {
                var error = OrtException.From(e);
                if (cancellationToken.IsCancellationRequested)
                    throw new OperationCanceledException("the ONNX Runtime run was cancelled", error, cancellationToken);
                throw error;
            }
        }
        finally
        {
            bool release;
            lock (_gate) release = --_runs == 0 && _disposed;
            if (release) _session.Dispose();
        }
    }

    private static (string[] Names, OrtValue[] Values) Split(IReadOnlyList<(string Name, OrtValue Value)> pairs)
    {
        var names = new string[pairs.Count];
        var values = new OrtValue[pairs.Count];
        for (int i = 0; i < pairs.Count; i++) (names[i], values[i]) = pairs[i];
        return (names, values);
    }
}
