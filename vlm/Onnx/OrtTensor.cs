using System.Runtime.InteropServices;
using InternVit.SK.Onnx.Native;

namespace InternVit.SK.Onnx;

/// <summary>
/// A tensor value for ONNX Runtime: either a view over caller memory (pinned, no copy, for inputs and preallocated
/// outputs) or memory ORT allocated (session outputs). Dispose it to release the native value and unpin the memory.
/// </summary>
public sealed unsafe class OrtTensor : IDisposable
{
    private OrtTensor(OrtValueHandle handle, OrtElementType elementType, long[] shape)
    {
        Handle = handle;
        ElementType = elementType;
        Shape = shape;
    }

    internal OrtValueHandle Handle { get; }

    /// <summary>Element type.</summary>
    public OrtElementType ElementType { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public long[] Shape { get; }

    /// <summary>Number of elements.</summary>
    public long ElementCount => Product(Shape);

    /// <summary>
    /// A tensor over <paramref name="data"/> without copying: the memory stays pinned until this tensor is disposed,
    /// and whatever the session writes into it (as an output) lands in <paramref name="data"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The element count of <paramref name="shape"/> differs from the buffer's length.</exception>
    public static OrtTensor FromMemory<T>(Memory<T> data, ReadOnlySpan<long> shape) where T : unmanaged
    {
        long count = Product(shape);
        if (count != data.Length)
            throw new ArgumentException($"shape [{string.Join(",", shape.ToArray())}] has {count} elements but the buffer holds {data.Length}", nameof(shape));
        var type = OrtElementTypes.Of<T>();
        var pin = data.Pin();
        try
        {
            nint value;
            fixed (long* dims = shape)
            {
                OrtStatus.ThrowIfFailed(OrtLibrary.Api.CreateTensorWithDataAsOrtValue(
                    OrtEnvironment.CpuMemory.Pointer, pin.Pointer, (nuint)data.Length * (nuint)sizeof(T), dims, (nuint)shape.Length, type, &value));
            }
            // The value handle owns the pin: memory stays pinned until ORT has released the value, even if a run holds it past Dispose.
            var handle = OrtHandle.Own<OrtValueHandle>(value);
            handle.SetPin(pin);
            return new OrtTensor(handle, type, shape.ToArray());
        }
        catch
        {
            pin.Dispose();
            throw;
        }
    }

    /// <summary>A tensor over <paramref name="data"/> (no copy) with the given shape.</summary>
    public static OrtTensor FromArray<T>(T[] data, params long[] shape) where T : unmanaged => FromMemory(data.AsMemory(), shape);

    /// <summary>A zero-filled tensor in memory ORT allocates.</summary>
    public static OrtTensor Allocate(OrtElementType type, ReadOnlySpan<long> shape)
    {
        var tensor = AllocateUninitialized(type, shape);
        tensor.RawBytes().Clear();
        return tensor;
    }

    /// <summary>
    /// A tensor in memory ORT allocates, with undefined content: for buffers that are written before they are read
    /// (a KV cache), whose untouched pages then cost no resident memory.
    /// </summary>
    internal static OrtTensor AllocateUninitialized(OrtElementType type, ReadOnlySpan<long> shape)
    {
        nint value;
        fixed (long* dims = shape)
            OrtStatus.ThrowIfFailed(OrtLibrary.Api.CreateTensorAsOrtValue(OrtEnvironment.DefaultAllocator, dims, (nuint)shape.Length, type, &value));
        return new OrtTensor(OrtHandle.Own<OrtValueHandle>(value), type, shape.ToArray());
    }

    /// <summary>Wraps a value ORT returned, reading its type and shape.</summary>
    internal static OrtTensor FromOwnedValue(nint value)
    {
        var handle = OrtHandle.Own<OrtValueHandle>(value);
        try
        {
            var api = OrtLibrary.Api;
            int onnxType;
            OrtStatus.ThrowIfFailed(api.GetValueType(value, &onnxType));
            if (onnxType != 1) // ONNX_TYPE_TENSOR
                throw new NotSupportedException($"the model returned a non-tensor value (ONNXType {onnxType}); only tensors are supported");
            nint info;
            OrtStatus.ThrowIfFailed(api.GetTensorTypeAndShape(value, &info));
            using var infoHandle = OrtHandle.Own<OrtTensorTypeAndShapeInfoHandle>(info);
            var (type, dims, _) = OrtSession.ReadTensorInfo(info);
            return new OrtTensor(handle, type, dims);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The elements as a span over the tensor's memory (caller memory or ORT's). Valid until this tensor is disposed.
    /// </summary>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> does not match <see cref="ElementType"/>.</exception>
    public Span<T> GetData<T>() where T : unmanaged
    {
        var requested = OrtElementTypes.Of<T>();
        if (requested != ElementType)
            throw new InvalidOperationException($"the tensor holds {ElementType}, not {requested}");
        return MemoryMarshal.Cast<byte, T>(RawBytes());
    }

    /// <summary>A copy of the elements.</summary>
    public T[] ToArray<T>() where T : unmanaged => GetData<T>().ToArray();

    /// <inheritdoc />
    public void Dispose() => Handle.Dispose();

    private Span<byte> RawBytes()
    {
        void* data;
        OrtStatus.ThrowIfFailed(OrtLibrary.Api.GetTensorMutableData(Handle.Pointer, &data));
        long bytes = ElementCount * OrtElementTypes.SizeOf(ElementType);
        return new Span<byte>(data, checked((int)bytes));
    }

    internal static long Product(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw new ArgumentException($"dimension {d} is negative", nameof(shape));
            n = checked(n * d);
        }
        return n;
    }
}
