using System.Runtime.InteropServices;

namespace InternVit.SK.Onnx.Native;

/// <summary>Base of the owned ORT pointers: invalid when null; each subclass releases with exactly one <c>Release*</c>.</summary>
internal abstract class OrtHandle : SafeHandle
{
    protected OrtHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    /// <summary>The raw pointer for a native call; the caller keeps this handle alive for the duration of the call.</summary>
    public nint Pointer => IsClosed ? throw new ObjectDisposedException(GetType().Name) : handle;

    /// <summary>Takes ownership of a pointer just returned by ORT.</summary>
    public static T Own<T>(nint pointer) where T : OrtHandle, new()
    {
        var h = new T();
        h.SetHandle(pointer);
        return h;
    }
}

internal sealed unsafe class OrtEnvHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseEnv(handle); return true; }
}

internal sealed unsafe class OrtSessionOptionsHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseSessionOptions(handle); return true; }
}

/// <summary>An <c>OrtSession*</c>, plus the native UTF-8 copies of its input/output names, which live exactly as long.</summary>
internal sealed unsafe class OrtSessionHandle : OrtHandle
{
    /// <summary>Name → zero-terminated UTF-8 in native memory; filled once after creation, then only read.</summary>
    public Dictionary<string, nint> NativeNames { get; } = new(StringComparer.Ordinal);

    protected override bool ReleaseHandle()
    {
        OrtLibrary.Api.ReleaseSession(handle);
        foreach (nint name in NativeNames.Values) Utf8.Free((byte*)name);
        return true;
    }
}

/// <summary>An <c>OrtValue*</c>; for a tensor over managed memory, also the pin, released only after the value.</summary>
internal sealed unsafe class OrtValueHandle : OrtHandle
{
    private System.Buffers.MemoryHandle _pin;

    public void SetPin(System.Buffers.MemoryHandle pin) => _pin = pin;

    protected override bool ReleaseHandle()
    {
        OrtLibrary.Api.ReleaseValue(handle);
        _pin.Dispose();
        return true;
    }
}

internal sealed unsafe class OrtMemoryInfoHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseMemoryInfo(handle); return true; }
}

internal sealed unsafe class OrtRunOptionsHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseRunOptions(handle); return true; }
}

internal sealed unsafe class OrtTypeInfoHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseTypeInfo(handle); return true; }
}

internal sealed unsafe class OrtTensorTypeAndShapeInfoHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseTensorTypeAndShapeInfo(handle); return true; }
}

internal sealed unsafe class OrtCudaProviderOptionsHandle : OrtHandle
{
    protected override bool ReleaseHandle() { OrtLibrary.Api.ReleaseCUDAProviderOptions(handle); return true; }
}
