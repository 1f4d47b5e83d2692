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

    internal OrtTensor Keys(int layer) => _keys[layer];

    internal OrtTensor Values(int layer) => _values[layer];

    /// <summary>Records that a step wrote <paramref name="positions"/> more positions.</summary>
    internal void Advance(int positions) => Length += positions;

    /// <summary>Forgets every position from <paramref name="length"/> on (e.g. to rewind to a shared prefix).</summary>
    public void TruncateTo(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        Length = length;
    }

    /// <summary>Empties the cache for a new sequence, keeping its buffers.</summary>
    public void Reset() => Length = 0;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _keys) t?.Dispose();
        foreach (var t in _values) t?.Dispose();
    }
}
