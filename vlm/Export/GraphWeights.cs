using InternVit.SK.Checkpoints;
using InternVit.SK.Onnx;

namespace InternVit.SK.Export;

/// <summary>A tensor a graph builder reads from the checkpoint, with the shape the config implies.</summary>
internal readonly record struct ExpectedTensor(string Name, long[] Shape);

/// <summary>
/// Moves checkpoint tensors into a graph as float32 initializers that keep their checkpoint key as name. It reads each
/// tensor when the graph asks for it, so only one tensor is in memory at a time, and it records what was used, so the
/// converter can prove that the builder consumed exactly the tensors it declared.
/// </summary>
/// <param name="checkpoint">Where tensors come from.</param>
/// <param name="graph">Where initializers and Linear nodes go.</param>
/// <param name="linearFormat">How Linear layers store their weights and which kernel runs them.</param>
/// <param name="lmHeadFormat">Another format for the Linear named <c>lm_head</c>, or null for <paramref name="linearFormat"/>.</param>
internal sealed class GraphWeights(SafetensorsCheckpoint checkpoint, OnnxGraphBuilder graph, LinearFormat linearFormat = LinearFormat.Float32,
    LinearFormat? lmHeadFormat = null)
{
    /// <summary>The name the decoder gives its output projection (which the lm_head format applies to).</summary>
    public const string LmHead = "lm_head";

    /// <summary>Weights per quantization block along the input dimension.</summary>
    public const int BlockSize = 32;

    /// <summary>
    /// MatMulNBits' accuracy_level: 4 lets the kernel quantize activations to int8 per block and use integer dot
    /// products (VNNI); the weights are what was quantized at conversion either way.
    /// </summary>
    public const int AccuracyLevel = 4;

    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    /// <summary>Keys read so far.</summary>
    public IReadOnlySet<string> Used => _used;

    /// <summary>The tensor as stored (widened to float32), e.g. a bias or a norm weight.</summary>
    public string Tensor(string key) => Tensor(key, checkpoint.GetInfo(key).Shape);

    /// <summary>The tensor with another shape of the same size (e.g. [C] stored as [1, 1, C]).</summary>
    public string Tensor(string key, params long[] shape)
    {
        float[] values = Read(key);
        return graph.Initializer<float>(key, values, shape);
    }

    /// <summary>A Linear layer's weight [out, in], stored transposed as [in, out] for <c>x @ W</c>.</summary>
    public string LinearWeight(string key) => graph.Initializer<float>(key, Transposed(key, w => w, out int rows, out int columns), columns, rows);

    /// <summary>
    /// A Linear layer's weight stored transposed in float16 ([in, out]), with a Cast to float32 beside it, so the
    /// MatMul still runs in float32: the file holds half the bytes; ONNX Runtime folds the Cast when it loads the graph.
    /// </summary>
    private string LinearWeightFloat16(string key)
    {
        Half[] transposed = Transposed(key, w => (Half)w, out int rows, out int columns);
        foreach (Half h in transposed)
            if (Half.IsInfinity(h))
                throw new CheckpointException(checkpoint.Directory, $"'{key}' holds a value beyond float16's range (±65504); convert it at fp32");
        string stored = graph.Initializer<Half>(key, transposed, columns, rows);
        return graph.Op("Cast", key + "/to_float32", [stored], OnnxAttr.Int("to", (int)OrtElementType.Float));
    }

    private T[] Transposed<T>(string key, Func<float, T> convert, out int rows, out int columns)
    {
        (rows, columns) = LinearShape(key);
        float[] weight = Read(key);
        var transposed = new T[weight.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = weight.AsSpan(r * columns, columns);
            for (int c = 0; c < columns; c++) transposed[(long)c * rows + r] = convert(row[c]);
        }
        return transposed;
    }

    /// <summary>
    /// A Linear layer y = x Wᵀ + b over the checkpoint's weight W [out, in] (and bias b when <paramref name="biasKey"/>
    /// is given), in the graph's <see cref="LinearFormat"/>: a MatMul over Wᵀ in float32 (stored as float32 or float16), MatMulNBits over W quantized
    /// blockwise (see <see cref="BlockQuantizer"/>), or DynamicQuantizeMatMul over Wᵀ in int8 per output channel with
    /// the bias fused (see <see cref="ChannelQuantizer"/>).
    /// </summary>
    public string Linear(string name, string x, string weightKey, string? biasKey)
    {
        var format = name == LmHead ? lmHeadFormat ?? linearFormat : linearFormat;
        if (format == LinearFormat.DynamicInt8) return DynamicQuantizedMatMul(name, x, weightKey, biasKey);
        string y = format switch
        {
            LinearFormat.Blocked8 => QuantizedMatMul(name, x, weightKey, 8),
            LinearFormat.Blocked4 => QuantizedMatMul(name, x, weightKey, 4),
            LinearFormat.Float16 => graph.MatMul(name + "/MatMul", x, LinearWeightFloat16(weightKey)),
            _ => graph.MatMul(name + "/MatMul", x, LinearWeight(weightKey)),
        };
        return biasKey is null ? y : graph.Add(name + "/Add", y, Tensor(biasKey));
    }

    private string DynamicQuantizedMatMul(string name, string x, string key, string? biasKey)
    {
        var (n, k) = LinearShape(key);
        var q = ChannelQuantizer.Quantize(Read(key), n, k);
        string weight = graph.Initializer<sbyte>(key, q.Transposed, k, n);
        string scales = graph.Initializer<float>(key + "_scales", q.Scales, n);
        string[] inputs = biasKey is null ? [x, weight, scales] : [x, weight, scales, "", Tensor(biasKey)];
        return graph.Node("DynamicQuantizeMatMul", inputs, name + "/DynamicQuantizeMatMul", domain: OnnxGraphBuilder.MicrosoftDomain)[0];
    }

    private string QuantizedMatMul(string name, string x, string key, int bits)
    {
        var (n, k) = LinearShape(key);
        var q = BlockQuantizer.Quantize(Read(key), n, k, bits, BlockSize);
        string packed = graph.Initializer(key, OrtElementType.UInt8, q.Packed, n, q.Blocks, q.BlobSize);
        string scales = graph.Initializer<float>(key + "_scales", q.Scales, q.Scales.Length);
        string zeroPoints = graph.Initializer(key + "_zero_points", OrtElementType.UInt8, q.ZeroPoints, q.ZeroPoints.Length);
        return graph.Node("MatMulNBits", [x, packed, scales, zeroPoints], name + "/MatMulNBits", domain: OnnxGraphBuilder.MicrosoftDomain,
            attributes: [OnnxAttr.Int("K", k), OnnxAttr.Int("N", n), OnnxAttr.Int("bits", bits), OnnxAttr.Int("block_size", BlockSize),
                OnnxAttr.Int("accuracy_level", AccuracyLevel)])[0];
    }

    /// <summary>A Linear weight's [out, in].</summary>
    private (int Out, int In) LinearShape(string key)
    {
        long[] shape = checkpoint.GetInfo(key).Shape;
        if (shape.Length != 2) throw new InvalidOperationException($"'{key}' has shape [{string.Join(",", shape)}], not [out, in]");
        return (checked((int)shape[0]), checked((int)shape[1]));
    }

    /// <summary>Reads a tensor for a computation done at conversion time (e.g. resampling the position grid).</summary>
    public float[] Read(string key)
    {
        _used.Add(key);
        return checkpoint.ReadFloat32(key);
    }

    /// <summary>
    /// Checks <paramref name="expected"/> against the checkpoint before anything is written: every tensor present, with
    /// its shape, in a float dtype, and nothing else in the checkpoint. All problems are reported together.
    /// </summary>
    /// <exception cref="CheckpointException">Missing, misshapen, non-float or unexpected tensors, each named.</exception>
    public static void Validate(SafetensorsCheckpoint checkpoint, IReadOnlyList<ExpectedTensor> expected)
    {
        var problems = new List<string>();
        var expectedNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in expected)
        {
            expectedNames.Add(name);
            if (!checkpoint.Contains(name))
            {
                problems.Add($"missing tensor '{name}' (expected shape [{string.Join(",", shape)}])");
                continue;
            }
            var info = checkpoint.GetInfo(name);
            if (!info.Shape.AsSpan().SequenceEqual(shape))
                problems.Add($"tensor '{name}' has shape [{string.Join(",", info.Shape)}], but the config implies [{string.Join(",", shape)}]");
            if (info.Dtype is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16))
                problems.Add($"tensor '{name}' is {info.Dtype}; only F32, F16 and BF16 weights are supported");
        }
        foreach (var tensor in checkpoint.Tensors)
            if (!expectedNames.Contains(tensor.Name))
                problems.Add($"unexpected tensor '{tensor.Name}' (not part of the architecture the config describes)");
        if (problems.Count == 0) return;
        const int shown = 20;
        string list = string.Join("; ", problems.Take(shown)) + (problems.Count > shown ? $"; and {problems.Count - shown} more" : "");
        throw new CheckpointException(checkpoint.Directory, $"the weights do not match config.json: {list}");
    }
}

/// <summary>How a graph's Linear layers store their weights.</summary>
internal enum LinearFormat
{
    /// <summary>float32 weights, MatMul (+ Add).</summary>
    Float32,

    /// <summary>float16 weights cast to float32 in the graph, MatMul (+ Add) in float32.</summary>
    Float16,

    /// <summary>8-bit blockwise weights, MatMulNBits (+ Add).</summary>
    Blocked8,

    /// <summary>4-bit blockwise weights, MatMulNBits (+ Add).</summary>
    Blocked4,

    /// <summary>
    /// int8 weights with one scale per output channel, DynamicQuantizeMatMul: the activations are quantized to uint8
    /// per tensor at run time and the product runs in ONNX Runtime's integer GEMM (MLAS QGEMM), bias fused.
    /// </summary>
    DynamicInt8,
}

/// <summary>One input or output of a graph, as recorded in the manifest: name, element type and dimensions (numbers or symbols).</summary>
internal readonly record struct GraphPort(string Name, OrtElementType Type, OnnxDim[] Dims);
