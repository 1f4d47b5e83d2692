using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace InternVit.SK.Generation;

/// <summary>
/// The decoder's key/value cache for one sequence: per layer one preallocated buffer for keys and one for values,
/// [1, kv_heads, Capacity, head_dim], of which the first <see cref="Length"/> positions are valid. Each decoder step
/// binds the buffers as both <c>past_key_values</c> and <c>present</c>, so the graph writes the new positions in place
/// and nothing is copied or allocated per step. The buffers are not cleared (the graph reads only positions it wrote),
/// so pages of a large buffer cost resident memory only as positions are written.
/// </summary>
internal sealed class KvCache : IDisposable
{
    private readonly OrtValue[] _keys;
    private readonly OrtValue[] _values;
    private long[]? _mask;
    private long[] _positions = [];
    private readonly long[] _logitsToKeep = new long[1];
    private readonly OrtValue[] _inputs;
    private readonly OrtValue[] _outputs;

    internal KvCache(int layers, int keyValueHeads, int headDim, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        KeyValueHeads = keyValueHeads;
        HeadDim = headDim;
        _keys = new OrtValue[layers];
        _values = new OrtValue[layers];
        _inputs = new OrtValue[4 + 2 * layers];
        _outputs = new OrtValue[1 + 2 * layers];
        long[] shape = [1, keyValueHeads, capacity, headDim];
        try
        {
            for (int i = 0; i < layers; i++)
            {
                // ORT's allocator leaves the memory as it is (no clearing), so unwritten pages stay unmapped.
                _keys[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, shape);
                _values[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, shape);
                _inputs[4 + 2 * i] = _outputs[1 + 2 * i] = _keys[i];
                _inputs[5 + 2 * i] = _outputs[2 + 2 * i] = _values[i];
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Positions held.</summary>
    public int Length { get; private set; }

    /// <summary>Most positions the cache can hold.</summary>
    public int Capacity { get; }

    /// <summary>Layers.</summary>
    public int Layers => _keys.Length;

    /// <summary>Key/value heads per layer.</summary>
    public int KeyValueHeads { get; }

    /// <summary>Per-head width.</summary>
    public int HeadDim { get; }

    /// <summary>Bytes the key and value buffers take at full capacity.</summary>
    public long Bytes => ByteSize(Layers, KeyValueHeads, HeadDim, Capacity);

    /// <summary>Bytes of a cache of <paramref name="capacity"/> positions: keys and values, float32, every layer.</summary>
    internal static long ByteSize(int layers, int keyValueHeads, int headDim, int capacity) => 2L * layers * keyValueHeads * headDim * capacity * sizeof(float);

    /// <summary>The attention mask of every step: ones for all positions up to the capacity (the graph takes a prefix).</summary>
    internal long[] AttentionMask => _mask ??= CreateMask(Capacity);

    /// <summary>Position ids past .. past + count - 1, in a scratch buffer reused across steps.</summary>
    internal Memory<long> PositionsFor(int count)
    {
        if (_positions.Length < count) _positions = new long[Math.Max(count, 1)];
        for (int i = 0; i < count; i++) _positions[i] = Length + i;
        return _positions.AsMemory(0, count);
    }

    /// <summary>The one-element <c>logits_to_keep</c> input, in a buffer reused across steps.</summary>
    internal Memory<long> LogitsToKeep(int count)
    {
        _logitsToKeep[0] = count;
        return _logitsToKeep;
    }

    /// <summary>
    /// The decoder's input and output value slots in port order: the first four inputs and the first output (logits)
    /// are the caller's to fill for one run; the rest are this cache's key and value buffers.
    /// </summary>
    internal (OrtValue[] Inputs, OrtValue[] Outputs) RunSlots => (_inputs, _outputs);

    private static long[] CreateMask(int capacity)
    {
        var mask = new long[capacity];
        Array.Fill(mask, 1L);
        return mask;
    }

    internal OrtValue Keys(int layer) => _keys[layer];

    internal OrtValue Values(int layer) => _values[layer];

    /// <summary>Records that a step wrote <paramref name="positions"/> more positions.</summary>
    internal void Advance(int positions) => Length += positions;

    /// <summary>
    /// Copies the first <paramref name="length"/> positions of <paramref name="source"/> (same model, any capacity) into
    /// this empty cache, head by head (each head's positions are contiguous in both buffers).
    /// </summary>
    internal void CopyPrefixFrom(KvCache source, int length)
    {
        if (source.Layers != Layers || source.KeyValueHeads != KeyValueHeads || source.HeadDim != HeadDim)
            throw new ArgumentException("the cache belongs to another model", nameof(source));
        if (Length != 0) throw new InvalidOperationException("the cache is not empty");
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, source.Length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Capacity);
        int run = length * HeadDim, sourceStride = source.Capacity * HeadDim, stride = Capacity * HeadDim;
        for (int layer = 0; layer < Layers; layer++)
        {
            CopyHeads(source._keys[layer], _keys[layer]);
            CopyHeads(source._values[layer], _values[layer]);
        }
        Length = length;

        void CopyHeads(OrtValue from, OrtValue to)
        {
            var sourceSpan = from.GetTensorMutableDataAsSpan<float>();
            var span = to.GetTensorMutableDataAsSpan<float>();
            for (int head = 0; head < KeyValueHeads; head++)
                sourceSpan.Slice(head * sourceStride, run).CopyTo(span.Slice(head * stride, run));
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _keys) t?.Dispose();
        foreach (var t in _values) t?.Dispose();
    }
}
