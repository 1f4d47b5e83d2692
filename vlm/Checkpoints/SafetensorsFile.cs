using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace InternVit.SK.Checkpoints;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The tensor's key, e.g. <c>vision_model.embeddings.patch_embedding.weight</c>.</param>
/// <param name="Dtype">Element type as stored.</param>
/// <param name="Shape">Dimensions, outermost first.</param>
/// <param name="Begin">Start of the data, in bytes from the start of the data section.</param>
/// <param name="End">End of the data (exclusive), in bytes from the start of the data section.</param>
internal sealed record SafetensorsTensorInfo(string Name, SafetensorsDtype Dtype, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements (product of <see cref="Shape"/>; 1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>Size of the stored data in bytes.</summary>
    public long ByteLength => End - Begin;
}

/// <summary>
/// A memory-mapped safetensors file. The header is parsed and validated when the file is opened; tensor data
/// is read lazily, one tensor at a time, straight from the mapping.
/// </summary>
/// <remarks>
/// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// (<c>{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}}</c>), then the data section.
/// Every validation failure raises <see cref="CheckpointException"/> naming this file.
/// </remarks>
internal sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>The format's own limit on the JSON header (100 MB).</summary>
    private const long MaxHeaderBytes = 100_000_000;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private readonly long _dataLength;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    private bool _pointerAcquired;

    private SafetensorsFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePtr,
        long dataStart, long dataLength, List<SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePtr;
        _pointerAcquired = view is not null;
        _dataStart = dataStart;
        _dataLength = dataLength;
        Tensors = tensors;
        Metadata = metadata;
        _byName = new Dictionary<string, SafetensorsTensorInfo>(tensors.Count, StringComparer.Ordinal);
        foreach (var t in tensors) _byName[t.Name] = t;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>Tensor entries in header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    /// <exception cref="CheckpointException">The file is missing, truncated or its header is invalid.</exception>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException(path, "file not found");
        // One open file: its length is the one validated and the one mapped. (A file truncated by someone else
        // while mapped can still fault on access; that is the nature of memory mapping.)
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* basePtr = null;
        try
        {
            long fileLength = stream.Length;
            if (fileLength < 8)
                throw new CheckpointException(path, $"truncated: the file has {fileLength} bytes, fewer than the 8-byte header length");
            Span<byte> lengthBytes = stackalloc byte[8];
            stream.ReadExactly(lengthBytes);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (headerLength > (ulong)(fileLength - 8))
                throw new CheckpointException(path,
                    $"header length {headerLength} runs beyond the end of the file ({fileLength - 8} bytes follow the length field); the file is truncated or not safetensors");
            if ((long)headerLength > MaxHeaderBytes)
                throw new CheckpointException(path, $"header length {headerLength} exceeds the format's limit of {MaxHeaderBytes} bytes");

            long dataStart = 8 + (long)headerLength;
            long dataLength = fileLength - dataStart;
            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, fileLength, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, fileLength, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            basePtr += view.PointerOffset;
            var header = new ReadOnlySpan<byte>(basePtr + 8, checked((int)headerLength));
            var (tensors, metadata) = ParseHeader(path, header, dataLength);
            return new SafetensorsFile(path, map, view, basePtr, dataStart, dataLength, tensors, metadata);
        }
        catch
        {
            if (basePtr != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Whether the file has a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header entry of <paramref name="name"/>.</summary>
    /// <exception cref="CheckpointException">No such tensor.</exception>
    public SafetensorsTensorInfo GetInfo(string name) =>
        _byName.TryGetValue(name, out var info) ? info : throw new CheckpointException(Path, $"no tensor named '{name}'");

    /// <summary>
    /// The raw little-endian bytes of <paramref name="name"/>, straight from the mapping. Valid until this file is disposed.
    /// </summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        ObjectDisposedException.ThrowIf(!_pointerAcquired, this);
        var info = GetInfo(name);
        if (info.ByteLength > int.MaxValue)
            throw new CheckpointException(Path, $"tensor '{name}' has {info.ByteLength} bytes, more than one span can hold; read it with ReadFloat32 in slices");
        return new ReadOnlySpan<byte>(_base + _dataStart + info.Begin, (int)info.ByteLength);
    }

    /// <summary>Reads a floating-point tensor (F32, F16 or BF16) as float32 into a new array.</summary>
    public float[] ReadFloat32(string name)
    {
        var info = GetInfo(name);
        var result = new float[checked((int)info.ElementCount)];
        ReadFloat32(name, result);
        return result;
    }

    /// <summary>Reads a floating-point tensor (F32, F16 or BF16) as float32 into <paramref name="destination"/>.</summary>
    /// <exception cref="CheckpointException">The tensor is not floating point, or the destination size differs.</exception>
    public void ReadFloat32(string name, Span<float> destination)
    {
        var info = GetInfo(name);
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"'{name}' has {info.ElementCount} elements but the destination holds {destination.Length}", nameof(destination));
        if (!TryWidenToFloat32(GetBytes(name), info.Dtype, destination))
            throw new CheckpointException(Path, $"tensor '{name}' is {info.Dtype}, not a floating-point type that converts to float32");
    }

    /// <summary>Widens little-endian F32, F16 or BF16 elements to float32 (exactly); false for other dtypes.</summary>
    internal static bool TryWidenToFloat32(ReadOnlySpan<byte> bytes, SafetensorsDtype dtype, Span<float> destination)
    {
        switch (dtype)
        {
            case SafetensorsDtype.F32:
                LittleEndianCopy(bytes, destination);
                return true;
            case SafetensorsDtype.BF16:
                var bf16 = MemoryMarshal.Cast<byte, ushort>(bytes);
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = BitConverter.Int32BitsToSingle(bf16[i] << 16);
                return true;
            case SafetensorsDtype.F16:
                var f16 = MemoryMarshal.Cast<byte, Half>(bytes);
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = (float)f16[i];
                return true;
            default:
                return false;
        }
    }

    /// <summary>Reads an integer tensor (I64, I32, I16, I8, U8 or BOOL) as int64 into a new array.</summary>
    public long[] ReadInt64(string name)
    {
        var info = GetInfo(name);
        var bytes = GetBytes(name);
        var result = new long[checked((int)info.ElementCount)];
        switch (info.Dtype)
        {
            case SafetensorsDtype.I64: MemoryMarshal.Cast<byte, long>(bytes).CopyTo(result); break;
            case SafetensorsDtype.I32: { var s = MemoryMarshal.Cast<byte, int>(bytes); for (int i = 0; i < s.Length; i++) result[i] = s[i]; break; }
            case SafetensorsDtype.I16: { var s = MemoryMarshal.Cast<byte, short>(bytes); for (int i = 0; i < s.Length; i++) result[i] = s[i]; break; }
            case SafetensorsDtype.I8: { var s = MemoryMarshal.Cast<byte, sbyte>(bytes); for (int i = 0; i < s.Length; i++) result[i] = s[i]; break; }
            case SafetensorsDtype.U8 or SafetensorsDtype.BOOL: for (int i = 0; i < bytes.Length; i++) result[i] = bytes[i]; break;
            default: throw new CheckpointException(Path, $"tensor '{name}' is {info.Dtype}, not an integer type");
        }
        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_pointerAcquired)
        {
            _pointerAcquired = false;
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
        }
        _view?.Dispose();
        _map?.Dispose();
    }

    private static void LittleEndianCopy(ReadOnlySpan<byte> source, Span<float> destination)
    {
        // This library runs on little-endian machines only (x64, arm64), where the stored bytes are the values.
        MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
    }

    private static (List<SafetensorsTensorInfo>, Dictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        var tensors = new List<SafetensorsTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(header);
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, $"the header is not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(path, "the header is not a JSON object");
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                        throw new CheckpointException(path, "__metadata__ is not an object of strings");
                    foreach (var m in property.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                tensors.Add(ParseEntry(path, property, dataLength));
            }
        }
        return (tensors, metadata);
    }

    private static SafetensorsTensorInfo ParseEntry(string path, JsonProperty property, long dataLength)
    {
        string name = property.Name;
        var entry = property.Value;
        if (entry.ValueKind != JsonValueKind.Object
            || !entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !entry.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !entry.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
            throw new CheckpointException(path, $"tensor '{name}' needs dtype, shape and data_offsets [begin, end] in the header");

        string dtypeText = dtypeElement.GetString()!;
        if (!SafetensorsDtypes.TryParse(dtypeText, out var dtype))
            throw new CheckpointException(path, $"tensor '{name}' has unknown dtype '{dtypeText}'");

        var shape = new long[shapeElement.GetArrayLength()];
        int k = 0;
        long elements = 1;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw new CheckpointException(path, $"tensor '{name}' has an invalid shape {shapeElement.GetRawText()}");
            shape[k++] = dim;
            elements = checked(elements * dim);
        }

        if (!offsetsElement[0].TryGetInt64(out long begin) || !offsetsElement[1].TryGetInt64(out long end)
            || begin < 0 || end < begin || end > dataLength)
            throw new CheckpointException(path,
                $"tensor '{name}' has data offsets {offsetsElement.GetRawText()} outside the data section ({dataLength} bytes); the file is truncated or corrupt");

        long expected = checked(elements * SafetensorsDtypes.SizeOf(dtype));
        if (end - begin != expected)
            throw new CheckpointException(path,
                $"tensor '{name}' ({dtypeText} {shapeElement.GetRawText()}) needs {expected} bytes but its data offsets span {end - begin}");
        return new SafetensorsTensorInfo(name, dtype, shape, begin, end);
    }
}
