using InternVit.SK.Export;
using InternVit.SK.Onnx;

namespace InternVit.SK.Generation;

/// <summary>
/// The decoder graph of a converted model. One call runs a block of input embeddings at the positions after those in
/// the <see cref="KvCache"/>, appends their keys and values to it, and returns the logits of the last positions.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    private readonly OrtSession _session;
    private readonly string[] _outputNames;

    internal LanguageModel(OrtSession session, ManifestDecoder decoder)
    {
        _session = session;
        Layers = decoder.Layers;
        HiddenSize = decoder.HiddenSize;
        KeyValueHeads = decoder.KeyValueHeads;
        HeadDim = decoder.HeadDim;
        VocabSize = decoder.VocabSize;
        _outputNames = new string[1 + 2 * Layers];
        _outputNames[0] = Qwen2Graph.Logits;
        for (int i = 0; i < Layers; i++)
        {
            _outputNames[1 + 2 * i] = Qwen2Graph.PresentKey(i);
            _outputNames[2 + 2 * i] = Qwen2Graph.PresentValue(i);
        }
    }

    /// <summary>Decoder layers.</summary>
    public int Layers { get; }

    /// <summary>Width of an embedding row.</summary>
    public int HiddenSize { get; }

    /// <summary>Key/value heads per layer.</summary>
    public int KeyValueHeads { get; }

    /// <summary>Per-head width.</summary>
    public int HeadDim { get; }

    /// <summary>Logits per position.</summary>
    public int VocabSize { get; }

    /// <summary>An empty cache for a new sequence.</summary>
    public KvCache CreateCache() => new(Layers, KeyValueHeads, HeadDim);

    /// <summary>
    /// Runs <paramref name="inputsEmbeds"/> ([positions, HiddenSize]) after the positions already in <paramref name="cache"/>
    /// and returns the logits of the last <paramref name="logitsToKeep"/> positions ([kept, VocabSize]; 0 keeps all).
    /// </summary>
    public float[] Forward(ReadOnlyMemory<float> inputsEmbeds, KvCache cache, int logitsToKeep = 1, CancellationToken cancellationToken = default)
    {
        if (inputsEmbeds.Length == 0 || inputsEmbeds.Length % HiddenSize != 0)
            throw new ArgumentException($"inputs_embeds must hold whole rows of {HiddenSize} floats, got {inputsEmbeds.Length}", nameof(inputsEmbeds));
        if (cache.Layers != Layers) throw new ArgumentException("the cache belongs to another model", nameof(cache));
        int sequence = inputsEmbeds.Length / HiddenSize;
        ArgumentOutOfRangeException.ThrowIfNegative(logitsToKeep);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(logitsToKeep, sequence);
        int past = cache.Length, total = past + sequence;

        var mask = new long[total];
        Array.Fill(mask, 1L);
        var positions = new long[sequence];
        for (int i = 0; i < sequence; i++) positions[i] = past + i;

        using var embeds = OrtTensor.FromMemory(System.Runtime.InteropServices.MemoryMarshal.AsMemory(inputsEmbeds), [1, sequence, HiddenSize]);
        using var maskTensor = OrtTensor.FromArray(mask, 1, total);
        using var positionTensor = OrtTensor.FromArray(positions, 1, sequence);
        using var keep = OrtTensor.FromArray(new long[] { logitsToKeep }, 1);
        var inputs = new List<(string, OrtTensor)>(4 + 2 * Layers)
        {
            (Qwen2Graph.InputsEmbeds, embeds), (Qwen2Graph.AttentionMask, maskTensor), (Qwen2Graph.PositionIds, positionTensor), (Qwen2Graph.LogitsToKeep, keep),
        };
        for (int i = 0; i < Layers; i++)
        {
            inputs.Add((Qwen2Graph.PastKey(i), cache.Keys(i)));
            inputs.Add((Qwen2Graph.PastValue(i), cache.Values(i)));
        }

        var outputs = _session.Run(inputs, _outputNames, cancellationToken);
        try
        {
            float[] logits = outputs[0].ToArray<float>();
            var keys = new OrtTensor[Layers];
            var values = new OrtTensor[Layers];
            for (int i = 0; i < Layers; i++)
            {
                keys[i] = outputs[1 + 2 * i];
                values[i] = outputs[2 + 2 * i];
            }
            cache.Replace(keys, values, total);
            outputs[0].Dispose();
            return logits;
        }
        catch
        {
            foreach (var t in outputs) t.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
