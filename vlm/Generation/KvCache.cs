using InternVit.SK.Onnx;

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
    private readonly OrtTensor[] _keys;
    private readonly OrtTensor[] _values;
    private long[]? _mask;
    private long[] _positions = [];

    internal KvCache(int layers, int keyValueHeads, int headDim, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _keys = new OrtTensor[layers];
        _values = new OrtTensor[layers];
        try
        {
            for (int i = 0; i < layers; i++)
            {
                _keys[i] = OrtTensor.AllocateUninitialized(OrtElementType.Float, [1, keyValueHeads, capacity, headDim]);
                _values[i] = OrtTensor.AllocateUninitialized(OrtElementType.Float, [1, keyValueHeads, capacity, headDim]);
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

    /// <summary>The attention mask of every step: ones for all positions up to the capacity (the graph takes a prefix).</summary>
    internal long[] AttentionMask => _mask ??= CreateMask(Capacity);

    /// <summary>Position ids past .. past + count - 1, in a scratch buffer reused across steps.</summary>
    internal Memory<long> PositionsFor(int count)
    {
        if (_positions.Length < count) _positions = new long[Math.Max(count, 1)];
        for (int i = 0; i < count; i++) _positions[i] = Length + i;
        return _positions.AsMemory(0, count);
    }

    private static long[] CreateMask(int capacity)
    {
        var mask = new long[capacity];
        Array.Fill(mask, 1L);
        return mask;
    }

    internal OrtTensor Keys(int layer) => _keys[layer];

    internal OrtTensor Values(int layer) => _values[layer];

    /// <summary>Records that a step wrote <paramref name="positions"/> more positions.</summary>
    internal void Advance(int positions) => Length += positions;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _keys) t?.Dispose();
        foreach (var t in _values) t?.Dispose();
    }
}
