using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using InternVit.SK.IO;

namespace InternVit.SK.Checkpoints;

/// <summary>
/// One tensor to write: its header entry and a callback that writes exactly its bytes, so large checkpoints are
/// streamed tensor by tensor instead of being held in memory at once.
/// </summary>
public sealed class SafetensorsEntry
{
    private readonly Action<Stream> _writeData;

    /// <summary>Creates an entry whose data is written by <paramref name="writeData"/>.</summary>
    public SafetensorsEntry(string name, SafetensorsDtype dtype, long[] shape, Action<Stream> writeData)
    {
        Name = name;
        Dtype = dtype;
        Shape = shape;
        _writeData = writeData;
    }

    /// <summary>Tensor key.</summary>
    public string Name { get; }

    /// <summary>Stored element type.</summary>
    public SafetensorsDtype Dtype { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public long[] Shape { get; }

    internal long ByteLength
    {
        get
        {
            long n = SafetensorsDtypes.SizeOf(Dtype);
            foreach (long d in Shape) n = checked(n * d);
            return n;
        }
    }

    internal void WriteData(Stream stream) => _writeData(stream);

    /// <summary>An entry over raw little-endian bytes.</summary>
    public static SafetensorsEntry FromBytes(string name, SafetensorsDtype dtype, long[] shape, ReadOnlyMemory<byte> bytes) =>
        new(name, dtype, shape, s => s.Write(bytes.Span));

    /// <summary>An entry over float32 values, stored as <paramref name="dtype"/> (F32, F16 or BF16 with round-to-nearest-even).</summary>
    public static SafetensorsEntry FromFloat32(string name, long[] shape, ReadOnlyMemory<float> values, SafetensorsDtype dtype = SafetensorsDtype.F32)
    {
        if (dtype is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16))
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "float32 values can be stored as F32, F16 or BF16");
        return new(name, dtype, shape, s => WriteFloat32As(s, values.Span, dtype));
    }

    /// <summary>An entry over int64 values (I64).</summary>
    public static SafetensorsEntry FromInt64(string name, long[] shape, ReadOnlyMemory<long> values) =>
        new(name, SafetensorsDtype.I64, shape, s => s.Write(MemoryMarshal.AsBytes(values.Span)));

    private static void WriteFloat32As(Stream stream, ReadOnlySpan<float> values, SafetensorsDtype dtype)
    {
        if (dtype == SafetensorsDtype.F32)
        {
            stream.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        const int Chunk = 16384;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Chunk * 2);
        try
        {
            for (int start = 0; start < values.Length; start += Chunk)
            {
                var slice = values.Slice(start, Math.Min(Chunk, values.Length - start));
                var target = MemoryMarshal.Cast<byte, ushort>(buffer.AsSpan(0, slice.Length * 2));
                for (int i = 0; i < slice.Length; i++)
                    target[i] = dtype == SafetensorsDtype.BF16 ? BFloat16.FromSingle(slice[i]) : BitConverter.HalfToUInt16Bits((Half)slice[i]);
                stream.Write(buffer, 0, slice.Length * 2);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>bfloat16 bit conversions, rounding as PyTorch does (to nearest, ties to even).</summary>
internal static class BFloat16
{
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return 0x7FC0;
        uint roundingBias = ((bits >> 16) & 1) + 0x7FFF;
        return (ushort)((bits + roundingBias) >> 16);
    }

    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);
}

/// <summary>Writes safetensors files: header first (space-padded to 8 bytes), then each tensor's data in order.</summary>
public static class SafetensorsWriter
{
    /// <summary>
    /// Writes <paramref name="entries"/> to <paramref name="path"/>. The file appears only when complete
    /// (written next to it, then renamed), so a failure never leaves a truncated file under that name.
    /// </summary>
    public static void Write(string path, IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        byte[] header = BuildHeader(entries, metadata);
        string temporary = AtomicFile.TemporaryPathFor(path);
        FileStream? stream = null;
        try
        {
            stream = AtomicFile.Create(temporary);
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var entry in entries)
            {
                long before = stream.Position;
                entry.WriteData(stream);
                long written = stream.Position - before;
                if (written != entry.ByteLength)
                    throw new InvalidOperationException($"tensor '{entry.Name}' wrote {written} bytes; its dtype and shape need {entry.ByteLength}");
            }
            AtomicFile.Commit(stream, path);
        }
        catch
        {
            AtomicFile.Discard(stream, temporary);
            throw;
        }
    }

    private static byte[] BuildHeader(IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            var names = new HashSet<string>(StringComparer.Ordinal);
            long offset = 0;
            foreach (var entry in entries)
            {
                if (!names.Add(entry.Name)) throw new ArgumentException($"tensor '{entry.Name}' appears twice", nameof(entries));
                writer.WriteStartObject(entry.Name);
                writer.WriteString("dtype", SafetensorsDtypes.Name(entry.Dtype));
                writer.WriteStartArray("shape");
                foreach (long d in entry.Shape) writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                offset += entry.ByteLength;
                writer.WriteNumberValue(offset);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        int padded = (int)((json.Length + 7) / 8 * 8);
        var header = new byte[padded];
        json.GetBuffer().AsSpan(0, (int)json.Length).CopyTo(header);
        header.AsSpan((int)json.Length).Fill((byte)' ');
        return header;
    }
}
