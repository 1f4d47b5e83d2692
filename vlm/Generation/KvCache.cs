using InternVit.SK.Onnx;

namespace InternVit.SK.Generation;

/// <summary>
/// The decoder's key/value cache for one sequence: per layer the keys and values of every position seen so far,
/// [1, kv_heads, Length, head_dim]. Each decoder step reads it as <c>past_key_values</c> and replaces it with the
/// step's <c>present</c> outputs.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly OrtTensor[] _keys;
    private readonly OrtTensor[] _values;

    internal KvCache(int layers, int keyValueHeads, int headDim)
    {
        _keys = new OrtTensor[layers];
        _values = new OrtTensor[layers];
        for (int i = 0; i < layers; i++)
        {
            _keys[i] = OrtTensor.Allocate(OrtElementType.Float, [1, keyValueHeads, 0, headDim]);
            _values[i] = OrtTensor.Allocate(OrtElementType.Float, [1, keyValueHeads, 0, headDim]);
        }
    }

    /// <summary>Positions held.</summary>
    public int Length { get; private set; }

    /// <summary>Layers.</summary>
    public int Layers => _keys.Length;

    internal OrtTensor Keys(int layer) => _keys[layer];

    internal OrtTensor Values(int layer) => _values[layer];

    /// <summary>Takes ownership of a step's present tensors and disposes the previous ones.</summary>
    internal void Replace(ReadOnlySpan<OrtTensor> presentKeys, ReadOnlySpan<OrtTensor> presentValues, int length)
    {
        for (int i = 0; i < _keys.Length; i++)
        {
            _keys[i].Dispose();
            _values[i].Dispose();
            _keys[i] = presentKeys[i];
            _values[i] = presentValues[i];
        }
        Length = length;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
