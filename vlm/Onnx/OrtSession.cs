using InternVit.SK.Onnx.Native;
using Microsoft.Extensions.Logging;

namespace InternVit.SK.Onnx;

/// <summary>
/// A loaded ONNX model. Created from a file (external data next to it is found by ORT); safe to run from several
/// threads at once. Input and output names are encoded to native UTF-8 once, here.
/// </summary>
public sealed unsafe class OrtSession : IDisposable
{
    private readonly OrtSessionHandle _handle;
    private bool _disposed;

    private OrtSession(string modelPath, OrtSessionHandle handle, OrtExecutionProvider provider, string? fallbackReason)
    {
        ModelPath = modelPath;
        _handle = handle;
        ExecutionProvider = provider;
        ProviderFallbackReason = fallbackReason;
        try
        {
            Inputs = ReadIo(isInput: true);
            Outputs = ReadIo(isInput: false);
            foreach (var io in Inputs.Concat(Outputs))
                if (!handle.NativeNames.ContainsKey(io.Name)) handle.NativeNames[io.Name] = (nint)Utf8.Allocate(io.Name);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The model file.</summary>
    public string ModelPath { get; }

    /// <summary>The model's inputs in graph order.</summary>
    public IReadOnlyList<OrtTensorInfo> Inputs { get; } = [];

    /// <summary>The model's outputs in graph order.</summary>
    public IReadOnlyList<OrtTensorInfo> Outputs { get; } = [];

    /// <summary>The provider the session actually runs on.</summary>
    public OrtExecutionProvider ExecutionProvider { get; }

    /// <summary>Why the requested provider could not be used (null when it was used).</summary>
    public string? ProviderFallbackReason { get; }

    /// <summary>Loads <paramref name="modelPath"/>.</summary>
    /// <exception cref="OrtException">The file is missing or not a valid model, or an option is invalid.</exception>
    public static OrtSession Create(string modelPath, OrtSessionOptions? options = null)
    {
        options ??= new OrtSessionOptions();
        var api = OrtLibrary.Api;
        var env = OrtEnvironment.Env;
        nint optionsPointer;
        OrtStatus.ThrowIfFailed(api.CreateSessionOptions(&optionsPointer));
        using var sessionOptions = OrtHandle.Own<OrtSessionOptionsHandle>(optionsPointer);
        var (provider, fallback) = Apply(options, sessionOptions.Pointer);

        nint session;
        fixed (byte* path = Utf8.Encode(modelPath))
            OrtStatus.ThrowIfFailed(api.CreateSession(env.Pointer, path, sessionOptions.Pointer, &session));
        return new OrtSession(modelPath, OrtHandle.Own<OrtSessionHandle>(session), provider, fallback);
    }

    /// <summary>Runs the model and returns the requested outputs, allocated by ORT (dispose them).</summary>
    /// <param name="inputs">Every input the model needs, by name.</param>
    /// <param name="outputNames">The outputs to compute, in the order they are returned.</param>
    /// <param name="cancellationToken">Stops a run in progress (ORT checks between kernels).</param>
    /// <exception cref="OrtException">Unknown name, wrong shape or type, or a kernel failed.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public OrtTensor[] Run(IReadOnlyList<(string Name, OrtTensor Value)> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken = default)
    {
        var outputs = new nint[outputNames.Count];
        RunCore(inputs, outputNames, outputs, boundOutputs: null, releaseScratch: false, cancellationToken);
        var result = new OrtTensor[outputs.Length];
        int made = 0;
        try
        {
            for (; made < outputs.Length; made++) result[made] = OrtTensor.FromOwnedValue(outputs[made]);
            return result;
        }
        catch
        {
            for (int i = 0; i < made; i++) result[i].Dispose();
            for (int i = made + 1; i < outputs.Length; i++) OrtLibrary.Api.ReleaseValue(outputs[i]);
            throw;
        }
    }

    /// <summary>Runs the model writing into caller-provided output tensors (e.g. buffers reused across calls).</summary>
    /// <exception cref="OrtException">Unknown name, wrong shape or type, or a kernel failed.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public void Run(IReadOnlyList<(string Name, OrtTensor Value)> inputs, IReadOnlyList<(string Name, OrtTensor Value)> outputs, CancellationToken cancellationToken = default) =>
        Run(inputs, outputs, releaseScratch: false, cancellationToken);

    /// <summary>
    /// As <see cref="Run(IReadOnlyList{ValueTuple{string, OrtTensor}}, IReadOnlyList{ValueTuple{string, OrtTensor}}, CancellationToken)"/>;
    /// with <paramref name="releaseScratch"/>, the CPU arena gives the memory of this run's intermediate tensors back
    /// when the run ends (ORT's <c>memory.enable_memory_arena_shrinkage</c>), so a large run (an image, a prompt) does
    /// not keep its peak resident for the session's lifetime.
    /// </summary>
    internal void Run(IReadOnlyList<(string Name, OrtTensor Value)> inputs, IReadOnlyList<(string Name, OrtTensor Value)> outputs, bool releaseScratch,
        CancellationToken cancellationToken)
    {
        var names = new string[outputs.Count];
        for (int i = 0; i < outputs.Count; i++) names[i] = outputs[i].Name;
        RunCore(inputs, names, new nint[outputs.Count], outputs, releaseScratch, cancellationToken);
    }

    /// <summary>Stops profiling and returns the profile file's path (needs <see cref="OrtSessionOptions.ProfilingPrefix"/>).</summary>
    public string EndProfiling()
    {
        var api = OrtLibrary.Api;
        nint allocator = OrtEnvironment.DefaultAllocator;
        byte* path;
        OrtStatus.ThrowIfFailed(api.SessionEndProfiling(_handle.Pointer, allocator, &path));
        try
        {
            return Utf8.Decode(path);
        }
        finally
        {
            OrtStatus.ThrowIfFailed(api.AllocatorFree(allocator, path));
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _handle.Dispose(); // the session and its native names go when the last run holding the handle ends
    }

    /// <summary>
    /// One ORT Run. <paramref name="outputs"/> receives the output values; when <paramref name="boundOutputs"/> is
    /// given, its tensors are the outputs (held for the call, like the inputs) and ORT writes into them.
    /// </summary>
    private void RunCore(IReadOnlyList<(string Name, OrtTensor Value)> inputs, IReadOnlyList<string> outputNames, nint[] outputs,
        IReadOnlyList<(string Name, OrtTensor Value)>? boundOutputs, bool releaseScratch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        var api = OrtLibrary.Api;
        int inputCount = inputs.Count, outputCount = outputNames.Count;
        var inputNamePtrs = new nint[inputCount];
        var inputValues = new nint[inputCount];
        var outputNamePtrs = new nint[outputCount];
        var temporaries = new List<nint>();
        var addedRefs = new List<OrtHandle>(inputCount + outputCount + 1);
        OrtRunOptionsHandle? runOptions = null;
        try
        {
            AddRef(_handle, addedRefs);
            for (int i = 0; i < inputCount; i++)
            {
                inputNamePtrs[i] = NativeName(inputs[i].Name, temporaries);
                AddRef(inputs[i].Value.Handle, addedRefs);
                inputValues[i] = inputs[i].Value.Handle.DangerousGetHandle();
            }
            for (int i = 0; i < outputCount; i++)
            {
                outputNamePtrs[i] = NativeName(outputNames[i], temporaries);
                if (boundOutputs is not null)
                {
                    AddRef(boundOutputs[i].Value.Handle, addedRefs);
                    outputs[i] = boundOutputs[i].Value.Handle.DangerousGetHandle();
                }
            }

            if (cancellationToken.CanBeCanceled || releaseScratch)
            {
                nint options;
                OrtStatus.ThrowIfFailed(api.CreateRunOptions(&options));
                runOptions = OrtHandle.Own<OrtRunOptionsHandle>(options);
                if (releaseScratch)
                {
                    fixed (byte* key = "memory.enable_memory_arena_shrinkage"u8, value = "cpu:0"u8)
                        OrtStatus.ThrowIfFailed(api.AddRunConfigEntry(options, key, value));
                }
            }

            using (var registration = runOptions is null ? default : cancellationToken.Register(static state =>
                   {
                       // Runs on the cancelling thread (a timer's, for CancelAfter): nothing may escape from here.
                       var handle = (OrtRunOptionsHandle)state!;
                       try
                       {
                           OrtStatus.ThrowIfFailed(OrtLibrary.Api.RunOptionsSetTerminate(handle.Pointer));
                       }
                       catch (Exception e) when (e is OrtException or ObjectDisposedException)
                       {
                           OrtEnvironment.Logger.LogWarning("could not stop an ONNX Runtime run: {Message}", e.Message);
                       }
                   }, runOptions))
            {
                fixed (nint* inNames = inputNamePtrs, inValues = inputValues, outNames = outputNamePtrs, outValues = outputs)
                {
                    try
                    {
                        OrtStatus.ThrowIfFailed(api.Run(_handle.DangerousGetHandle(), runOptions?.DangerousGetHandle() ?? 0,
                            (byte**)inNames, inValues, (nuint)inputCount, (byte**)outNames, (nuint)outputCount, outValues));
                    }
                    catch (OrtException e) when (cancellationToken.IsCancellationRequested)
                    {
                        throw new OperationCanceledException("the ONNX Runtime run was cancelled", e, cancellationToken);
                    }
                }
            }
        }
        finally
        {
            runOptions?.Dispose();
            foreach (var h in addedRefs) h.DangerousRelease();
            foreach (var p in temporaries) Utf8.Free((byte*)p);
        }
    }

    private static void AddRef(OrtHandle handle, List<OrtHandle> added)
    {
        bool success = false;
        handle.DangerousAddRef(ref success);
        if (!success) throw new ObjectDisposedException(handle.GetType().Name);
        added.Add(handle);
    }

    private nint NativeName(string name, List<nint> temporaries)
    {
        if (_handle.NativeNames.TryGetValue(name, out nint p)) return p;
        // Not a name of this model: ORT will say so; the bytes live only for this call.
        p = (nint)Utf8.Allocate(name);
        temporaries.Add(p);
        return p;
    }

    private static (OrtExecutionProvider, string?) Apply(OrtSessionOptions options, nint sessionOptions)
    {
        var api = OrtLibrary.Api;
        OrtStatus.ThrowIfFailed(api.SetIntraOpNumThreads(sessionOptions, options.IntraOpThreads));
        OrtStatus.ThrowIfFailed(api.SetInterOpNumThreads(sessionOptions, options.InterOpThreads));
        OrtStatus.ThrowIfFailed(api.SetSessionGraphOptimizationLevel(sessionOptions, (int)options.OptimizationLevel));
        if (options.LogLevel is { } level)
            OrtStatus.ThrowIfFailed(api.SetSessionLogSeverityLevel(sessionOptions, OrtEnvironment.ToOrtLevel(level)));
        if (options.OptimizedModelPath is { } optimizedPath)
        {
            fixed (byte* p = Utf8.Encode(optimizedPath))
                OrtStatus.ThrowIfFailed(api.SetOptimizedModelFilePath(sessionOptions, p));
        }
        if (options.ProfilingPrefix is { } prefix)
        {
            fixed (byte* p = Utf8.Encode(prefix))
                OrtStatus.ThrowIfFailed(api.EnableProfiling(sessionOptions, p));
        }
        var entries = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["session.intra_op.allow_spinning"] = options.AllowSpinning ? "1" : "0",
            ["session.inter_op.allow_spinning"] = options.AllowSpinning ? "1" : "0",
        };
        if (options.ConfigEntries is not null)
            foreach (var (key, value) in options.ConfigEntries) entries[key] = value;
        foreach (var (key, value) in entries)
        {
            fixed (byte* k = Utf8.Encode(key), v = Utf8.Encode(value))
                OrtStatus.ThrowIfFailed(api.AddSessionConfigEntry(sessionOptions, k, v));
        }

        if (options.ExecutionProvider == OrtExecutionProvider.Cuda)
        {
            try
            {
                AppendCuda(sessionOptions, options.CudaDeviceId);
                return (OrtExecutionProvider.Cuda, null);
            }
            catch (OrtException e)
            {
                OrtEnvironment.Logger.LogWarning("CUDA execution provider unavailable ({Reason}); running on the CPU", e.NativeMessage);
                return (OrtExecutionProvider.Cpu, e.NativeMessage);
            }
        }
        return (OrtExecutionProvider.Cpu, null);
    }

    private static void AppendCuda(nint sessionOptions, int deviceId)
    {
        var api = OrtLibrary.Api;
        nint cuda;
        OrtStatus.ThrowIfFailed(api.CreateCUDAProviderOptions(&cuda));
        using var cudaOptions = OrtHandle.Own<OrtCudaProviderOptionsHandle>(cuda);
        fixed (byte* key = "device_id"u8, value = Utf8.Encode(deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            byte* keys = key, values = value;
            OrtStatus.ThrowIfFailed(api.UpdateCUDAProviderOptions(cudaOptions.Pointer, &keys, &values, 1));
        }
        OrtStatus.ThrowIfFailed(api.SessionOptionsAppendExecutionProvider_CUDA_V2(sessionOptions, cudaOptions.Pointer));
    }

    private List<OrtTensorInfo> ReadIo(bool isInput)
    {
        var api = OrtLibrary.Api;
        nint session = _handle.Pointer;
        nint allocator = OrtEnvironment.DefaultAllocator;
        nuint count;
        OrtStatus.ThrowIfFailed(isInput ? api.SessionGetInputCount(session, &count) : api.SessionGetOutputCount(session, &count));
        var result = new List<OrtTensorInfo>((int)count);
        for (nuint i = 0; i < count; i++)
        {
            byte* namePtr;
            OrtStatus.ThrowIfFailed(isInput ? api.SessionGetInputName(session, i, allocator, &namePtr) : api.SessionGetOutputName(session, i, allocator, &namePtr));
            string name;
            try
            {
                name = Utf8.Decode(namePtr);
            }
            finally
            {
                OrtStatus.ThrowIfFailed(api.AllocatorFree(allocator, namePtr));
            }

            nint typeInfo;
            OrtStatus.ThrowIfFailed(isInput ? api.SessionGetInputTypeInfo(session, i, &typeInfo) : api.SessionGetOutputTypeInfo(session, i, &typeInfo));
            using var typeInfoHandle = OrtHandle.Own<OrtTypeInfoHandle>(typeInfo);
            nint tensorInfo;
            OrtStatus.ThrowIfFailed(api.CastTypeInfoToTensorInfo(typeInfo, &tensorInfo));
            if (tensorInfo == 0)
            {
                result.Add(new OrtTensorInfo(name, OrtElementType.Undefined, [], []));
                continue;
            }
            var (type, dims, symbolic) = ReadTensorInfo(tensorInfo);
            result.Add(new OrtTensorInfo(name, type, dims, symbolic));
        }
        return result;
    }

    /// <summary>Element type, dimensions and symbolic dimension names of an <c>OrtTensorTypeAndShapeInfo</c>.</summary>
    internal static (OrtElementType, long[], string[]) ReadTensorInfo(nint info)
    {
        var api = OrtLibrary.Api;
        OrtElementType type;
        OrtStatus.ThrowIfFailed(api.GetTensorElementType(info, &type));
        nuint rank;
        OrtStatus.ThrowIfFailed(api.GetDimensionsCount(info, &rank));
        var dims = new long[(int)rank];
        var symbolicPtrs = new nint[(int)rank];
        fixed (long* d = dims)
            OrtStatus.ThrowIfFailed(api.GetDimensions(info, d, rank));
        fixed (nint* s = symbolicPtrs)
            OrtStatus.ThrowIfFailed(api.GetSymbolicDimensions(info, (byte**)s, rank));
        var symbolic = new string[(int)rank];
        for (int i = 0; i < symbolic.Length; i++) symbolic[i] = Utf8.Decode((byte*)symbolicPtrs[i]);
        return (type, dims, symbolic);
    }
}
