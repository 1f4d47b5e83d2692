using InternVit.SK.ModelFolder;
using InternVit.SK.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace InternVit.SK.Generation;

/// <summary>
/// The decoder graph of a converted model. One call runs a block of input embeddings at the positions after those in
/// the <see cref="KvCache"/>, appends their keys and values to it, and returns the logits of the last positions.
/// A model folder may add a prefill graph with the same ports and KV format (precision <c>int4-prefill8</c>): calls of
/// more than one position run it, single-position decode steps run the decoder, both over the same cache buffers.
/// </summary>
internal sealed class LanguageModel : IDisposable
{
    private readonly OrtSession _session;
    private readonly OrtSession? _prefill;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;

    internal LanguageModel(OrtSession session, ManifestDecoder decoder, OrtSession? prefill = null)
    {
        _session = session;
        _prefill = prefill;
        PrefillChunk = (prefill ?? session).ExecutionProvider == OrtExecutionProvider.Cpu ? CpuPrefillChunk : 0;
        Layers = decoder.Layers;
        HiddenSize = decoder.HiddenSize;
        KeyValueHeads = decoder.KeyValueHeads;
        HeadDim = decoder.HeadDim;
        VocabSize = decoder.VocabSize;
        ContextWindow = decoder.MaxPositionEmbeddings;
        _inputNames = new string[4 + 2 * Layers];
        _inputNames[0] = DecoderPorts.InputsEmbeds;
        _inputNames[1] = DecoderPorts.AttentionMask;
        _inputNames[2] = DecoderPorts.PositionIds;
        _inputNames[3] = DecoderPorts.LogitsToKeep;
        _outputNames = new string[1 + 2 * Layers];
        _outputNames[0] = DecoderPorts.Logits;
        for (int i = 0; i < Layers; i++)
        {
            _inputNames[4 + 2 * i] = DecoderPorts.PastKey(i);
            _inputNames[5 + 2 * i] = DecoderPorts.PastValue(i);
            _outputNames[1 + 2 * i] = DecoderPorts.PresentKey(i);
            _outputNames[2 + 2 * i] = DecoderPorts.PresentValue(i);
        }
    }

    /// <summary>The decoder graph's session (for profiling).</summary>
    internal OrtSession Session => _session;

    /// <summary>The prefill graph's session, or null when the decoder runs every call (for profiling).</summary>
    internal OrtSession? PrefillSession => _prefill;

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

    /// <summary>Most positions a sequence can have (the LLM's <c>max_position_embeddings</c>).</summary>
    public int ContextWindow { get; }

    /// <summary>An empty cache for a new sequence, holding up to <paramref name="capacity"/> positions (default: the context window).</summary>
    public KvCache CreateCache(int? capacity = null)
    {
        int size = capacity ?? ContextWindow;
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1, nameof(capacity));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, ContextWindow, nameof(capacity));
        return new(Layers, KeyValueHeads, HeadDim, size);
    }

    /// <summary>
    /// Runs <paramref name="inputsEmbeds"/> ([positions, HiddenSize]) after the positions already in <paramref name="cache"/>
    /// and returns the logits of the last <paramref name="logitsToKeep"/> positions ([kept, VocabSize]; 0 keeps all).
    /// </summary>
    public float[] Forward(ReadOnlyMemory<float> inputsEmbeds, KvCache cache, int logitsToKeep = 1, CancellationToken cancellationToken = default)
    {
        int sequence = inputsEmbeds.Length / HiddenSize;
        var logits = new float[(logitsToKeep == 0 ? sequence : logitsToKeep) * VocabSize];
        Forward(inputsEmbeds, cache, logits, logitsToKeep, cancellationToken);
        return logits;
    }

    /// <summary>
    /// Most positions one run of the graph takes on the CPU; a longer block runs as consecutive chunks, each after the
    /// positions the previous ones wrote into the cache. ONNX Runtime's CPU GroupQueryAttention holds its scores in a
    /// buffer of heads × positions × cache capacity floats: 0.7 GB for a 3.5k-token prompt (a 12 + 1 tile photo) at the
    /// InternVL2.5-1B shape, 2.8 GB for 7k, on top of the model. Chunks bound it to heads × 512 × capacity; the
    /// integer GEMMs keep their large-M speed at 512 rows (docs/performance.md: the same prefill time at 3.5k tokens,
    /// peak RSS 2065 → 1658 MiB; 9 % slower at 7k, peak 2621 → 1806 MiB). Other providers take the block in one run.
    /// </summary>
    internal const int CpuPrefillChunk = 512;

    /// <summary>Most positions per graph run (<see cref="CpuPrefillChunk"/> on the CPU, unbounded elsewhere); tests set a small one.</summary>
    internal int PrefillChunk { get; set; }

    /// <summary>
    /// As <see cref="Forward(ReadOnlyMemory{float}, KvCache, int, CancellationToken)"/>, writing the logits into
    /// <paramref name="logits"/> ([kept, VocabSize]), which ORT fills in place. A block longer than
    /// <see cref="PrefillChunk"/> runs in chunks; if a later chunk fails, the cache keeps the positions of the chunks before it.
    /// </summary>
    /// <exception cref="InvalidOperationException">The cache cannot hold the new positions.</exception>
    public void Forward(ReadOnlyMemory<float> inputsEmbeds, KvCache cache, Memory<float> logits, int logitsToKeep = 1, CancellationToken cancellationToken = default)
    {
        if (inputsEmbeds.Length == 0 || inputsEmbeds.Length % HiddenSize != 0)
            throw new ArgumentException($"inputs_embeds must hold whole rows of {HiddenSize} floats, got {inputsEmbeds.Length}", nameof(inputsEmbeds));
        if (cache.Layers != Layers) throw new ArgumentException("the cache belongs to another model", nameof(cache));
        int sequence = inputsEmbeds.Length / HiddenSize;
        ArgumentOutOfRangeException.ThrowIfNegative(logitsToKeep);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(logitsToKeep, sequence);
        int kept = logitsToKeep == 0 ? sequence : logitsToKeep;
        if (logits.Length != kept * VocabSize)
            throw new ArgumentException($"{kept} kept positions need {kept * VocabSize} logits, the destination holds {logits.Length}", nameof(logits));
        if (cache.Length + sequence > cache.Capacity)
            throw new InvalidOperationException($"the KV cache is full: {cache.Length} positions held + {sequence} new > capacity {cache.Capacity}; create a larger cache (up to the context window {ContextWindow})");

        // Equal chunks (a 513-position block runs as 257 + 256, not 512 + 1), all on the graph the whole block calls for.
        int chunks = PrefillChunk > 0 ? (sequence + PrefillChunk - 1) / PrefillChunk : 1;
        int chunk = (sequence + chunks - 1) / chunks, firstKept = sequence - kept;
        var session = sequence > 1 && _prefill is not null ? _prefill : _session;
        for (int start = 0; start < sequence; start += chunk)
        {
            int end = Math.Min(start + chunk, sequence);
            int keep = Math.Clamp(end - firstKept, 0, end - start);   // the kept positions are the block's last ones
            // A chunk before the kept positions still produces one row: into the first row of the destination, which
            // the chunk holding the first kept position writes over later.
            var chunkLogits = logits.Slice(Math.Max(end - keep - firstKept, 0) * VocabSize, Math.Max(keep, 1) * VocabSize);
            Run(session, inputsEmbeds[(start * HiddenSize)..(end * HiddenSize)], cache, chunkLogits, Math.Max(keep, 1), releaseScratch: end == sequence && sequence > 1, cancellationToken);
        }
    }

    /// <summary>One run of the graph: <paramref name="inputsEmbeds"/> after the cached positions, the last <paramref name="kept"/> logits rows.</summary>
    private void Run(OrtSession session, ReadOnlyMemory<float> inputsEmbeds, KvCache cache, Memory<float> logits, int kept, bool releaseScratch, CancellationToken cancellationToken)
    {
        int sequence = inputsEmbeds.Length / HiddenSize, total = cache.Length + sequence;

        // The mask, the position ids, logits_to_keep and the value slots (with the KV buffers bound in and out, so
        // GroupQueryAttention writes the new positions in place) come from the cache: a decode step allocates only the
        // OrtValue wrappers of this step's shapes.
        var memory = OrtMemoryInfo.DefaultInstance;
        var (inputs, outputs) = cache.RunSlots;
        using var embeds = OrtValue.CreateTensorValueFromMemory(memory, System.Runtime.InteropServices.MemoryMarshal.AsMemory(inputsEmbeds), [1, sequence, HiddenSize]);
        using var mask = OrtValue.CreateTensorValueFromMemory(memory, cache.AttentionMask.AsMemory(0, total), [1, total]);
        using var positions = OrtValue.CreateTensorValueFromMemory(memory, cache.PositionsFor(sequence), [1, sequence]);
        using var keep = OrtValue.CreateTensorValueFromMemory(memory, cache.LogitsToKeep(kept), [1]);
        using var logitsValue = OrtValue.CreateTensorValueFromMemory(memory, logits, [1, kept, VocabSize]);
        inputs[0] = embeds;
        inputs[1] = mask;
        inputs[2] = positions;
        inputs[3] = keep;
        outputs[0] = logitsValue;
        try
        {
            // A prompt's intermediate tensors are large (positions × MLP width); their arena memory goes back after its last chunk.
            session.Run(_inputNames, inputs, _outputNames, outputs, releaseScratch, cancellationToken);
        }
        finally
        {
            Array.Clear(inputs, 0, 4);
            outputs[0] = null!;
        }
        cache.Advance(sequence);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _session.Dispose();
        _prefill?.Dispose();
    }
}
