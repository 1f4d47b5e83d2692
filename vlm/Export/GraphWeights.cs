using InternVit.SK.Checkpoints;
using InternVit.SK.Onnx;

namespace InternVit.SK.Export;

/// <summary>A tensor the converter reads from a checkpoint, with the shape its config implies (see <see cref="ModelConverter.ExpectedTensors"/>).</summary>
/// <param name="Name">The checkpoint key, e.g. <c>vision_model.encoder.layers.0.attn.qkv.weight</c> (original layout) or
/// <c>vision_tower.encoder.layer.0.attention.q_proj.weight</c> (Hugging Face-native layout).</param>
/// <param name="Shape">Dimensions, outermost first.</param>
public readonly record struct ExpectedTensor(string Name, long[] Shape);

/// <summary>
/// Moves checkpoint tensors into a graph as float32 initializers that keep their original-layout key as name (a
/// Hugging Face-native checkpoint is read through <see cref="CheckpointReader"/>'s mapping). It reads each
/// tensor when the graph asks for it, so only one tensor is in memory at a time, and it records what was used, so the
/// converter can prove that the builder consumed exactly the tensors it declared.
/// </summary>
/// <param name="checkpoint">Where tensors come from, under the original layout's names.</param>
/// <param name="graph">Where initializers and Linear nodes go.</param>
/// <param name="linearFormat">How Linear layers store their weights and which kernel runs them.</param>
/// <param name="lmHeadFormat">Another format for the Linear named <c>lm_head</c>, or null for <paramref name="linearFormat"/>.</param>
internal sealed class GraphWeights(CheckpointReader checkpoint, OnnxGraphBuilder graph, LinearFormat linearFormat = LinearFormat.Float32,
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
    public string Tensor(string key) => Tensor(key, checkpoint.Shape(key));

    /// <summary>The tensor with another shape of the same size (e.g. [C] stored as [1, 1, C]).</summary>
    public string Tensor(string key, params long[] shape)
    {
        float[] values = Read(key);
        return graph.Initializer<float>(key, values, shape);
    }

    /// <summary>
    /// A Linear layer y = x Wᵀ + b over the checkpoint's weight W [out, in] (and bias b when <paramref name="biasKey"/>
    /// is given); the initializers keep the checkpoint keys. See <see cref="Linear(string, string, IReadOnlyList{string}, IReadOnlyList{string}?)"/>.
    /// </summary>
    public string Linear(string name, string x, string weightKey, string? biasKey) =>
        Linear(name, x, new LinearWeights(Read(weightKey), LinearShape(weightKey), weightKey, biasKey is null ? null : Read(biasKey), biasKey));

    /// <summary>
    /// A Linear layer followed by a per-output-channel scale s (the checkpoint's <paramref name="outputScaleKey"/>, e.g.
    /// InternViT's layer scale <c>ls1</c>), folded into the weight's rows and the bias: (x Wᵀ + b) · s = x (s·W)ᵀ + s·b,
    /// exact up to float rounding, and with one scale per output channel the quantized formats store the same integers.
    /// float16 storage is the exception: a bf16 checkpoint's weights are exact in float16 but their products with the
    /// scale are not, so there the product is multiplied by the scale instead (the bias still takes it).
    /// Returns the product and, when the format's kernel does not add the bias itself (DynamicQuantizeMatMul does), the
    /// bias initializer for the caller to add inside the next fused operator.
    /// </summary>
    public (string Output, string? Bias) LinearLeavingBias(string name, string x, string weightKey, string biasKey, string? outputScaleKey = null)
    {
        float[] weight = Read(weightKey), bias = Read(biasKey);
        var shape = LinearShape(weightKey);
        if (outputScaleKey is null) return LinearLeavingBias(name, x, new LinearWeights(weight, shape, weightKey, bias, biasKey));
        float[] scale = Read(outputScaleKey);
        if (scale.Length != shape.Out)
            throw new InvalidOperationException($"'{outputScaleKey}' has {scale.Length} values, not one per output of '{weightKey}' ({shape.Out})");
        bool foldIntoWeight = FormatOf(name) != LinearFormat.Float16;
        for (int row = 0; row < shape.Out; row++)
        {
            if (foldIntoWeight)
                foreach (ref float v in weight.AsSpan(row * shape.In, shape.In)) v *= scale[row];
            bias[row] *= scale[row];
        }
        var (y, b) = LinearLeavingBias(name, x, new LinearWeights(weight, shape, weightKey, bias, biasKey));
        return foldIntoWeight ? (y, b) : (graph.Mul(name + "/output_scale", y, graph.Initializer<float>(outputScaleKey, scale, scale.Length)), b);
    }

    /// <summary>
    /// Linear layers over the same input computed as one: their weights [out_i, in] stacked along out (biases, when
    /// given, concatenated), stored as <c>{name}.weight</c> / <c>{name}.bias</c>; the output holds each layer's output
    /// side by side, in the order given. One kernel call instead of several matters for a decode step, where starting
    /// a small product (k_proj, v_proj) costs more than computing it.
    /// </summary>
    public string Linear(string name, string x, IReadOnlyList<string> weightKeys, IReadOnlyList<string>? biasKeys)
    {
        var (@in, rows) = (0, 0);
        foreach (string key in weightKeys)
        {
            var (n, k) = LinearShape(key);
            if (rows > 0 && k != @in) throw new InvalidOperationException($"'{key}' takes {k} inputs, not {@in} as '{weightKeys[0]}' does");
            (@in, rows) = (k, rows + n);
        }
        var weight = new float[(long)rows * @in];
        float[]? bias = biasKeys is null ? null : new float[rows];
        int row = 0;
        for (int i = 0; i < weightKeys.Count; i++)
        {
            float[] part = Read(weightKeys[i]);
            part.CopyTo(weight, (long)row * @in);
            if (bias is not null) Read(biasKeys![i]).CopyTo(bias, row);
            row += part.Length / @in;
        }
        return Linear(name, x, new LinearWeights(weight, (rows, @in), name + ".weight", bias, name + ".bias"));
    }

    /// <summary>A Linear layer's weight W [Out, In] and optional bias [Out], with the initializer names they get.</summary>
    private readonly record struct LinearWeights(float[] Weight, (int Out, int In) Shape, string WeightName, float[]? Bias, string? BiasName);

    /// <summary>
    /// The Linear layer in the graph's <see cref="LinearFormat"/>: a MatMul over Wᵀ in float32 (stored as float32 or
    /// float16), MatMulNBits over W quantized blockwise (see <see cref="BlockQuantizer"/>), or DynamicQuantizeMatMul
    /// over Wᵀ in int8 per output channel with the bias fused (see <see cref="ChannelQuantizer"/>).
    /// </summary>
    private string Linear(string name, string x, LinearWeights w)
    {
        var (y, bias) = LinearLeavingBias(name, x, w);
        return bias is null ? y : graph.Add(name + "/Add", y, bias);
    }

    /// <summary>
    /// The Linear layer's product, with the bias added when the format's kernel adds it (DynamicQuantizeMatMul);
    /// otherwise the bias initializer is returned for the caller to add, e.g. inside the next fused operator.
    /// </summary>
    private (string Output, string? Bias) LinearLeavingBias(string name, string x, LinearWeights w)
    {
        var format = FormatOf(name);
        if (format == LinearFormat.DynamicInt8) return (DynamicQuantizedMatMul(name, x, w), null);
        string y = format switch
        {
            LinearFormat.Blocked8 => QuantizedMatMul(name, x, w, 8),
            LinearFormat.Blocked4 => QuantizedMatMul(name, x, w, 4),
            LinearFormat.Float16 => graph.MatMul(name + "/MatMul", x, LinearWeightFloat16(w)),
            _ => graph.MatMul(name + "/MatMul", x, graph.Initializer<float>(w.WeightName, Transposed(w, v => v), w.Shape.In, w.Shape.Out)),
        };
        return (y, w.Bias is null ? null : graph.Initializer<float>(w.BiasName!, w.Bias, w.Bias.Length));
    }

    /// <summary>
    /// A Linear layer's weight stored transposed in float16 ([in, out]), with a Cast to float32 beside it, so the
    /// MatMul still runs in float32: the file holds half the bytes; ONNX Runtime folds the Cast when it loads the graph.
    /// </summary>
    private string LinearWeightFloat16(LinearWeights w)
    {
        Half[] transposed = Transposed(w, v => (Half)v);
        foreach (Half h in transposed)
            if (Half.IsInfinity(h))
                throw new CheckpointException(checkpoint.Directory, $"'{w.WeightName}' holds a value beyond float16's range (±65504); convert it at fp32");
        string stored = graph.Initializer<Half>(w.WeightName, transposed, w.Shape.In, w.Shape.Out);
        return graph.Op("Cast", w.WeightName + "/to_float32", [stored], OnnxAttr.Int("to", (int)OnnxDataType.Float));
    }

    private LinearFormat FormatOf(string linearName) => linearName == LmHead ? lmHeadFormat ?? linearFormat : linearFormat;

    private static T[] Transposed<T>(LinearWeights w, Func<float, T> convert)
    {
        var (rows, columns) = w.Shape;
        var transposed = new T[w.Weight.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = w.Weight.AsSpan(r * columns, columns);
            for (int c = 0; c < columns; c++) transposed[(long)c * rows + r] = convert(row[c]);
        }
        return transposed;
    }

    private string DynamicQuantizedMatMul(string name, string x, LinearWeights w)
    {
        var (n, k) = w.Shape;
        var q = ChannelQuantizer.Quantize(w.Weight, n, k);
        string weight = graph.Initializer<sbyte>(w.WeightName, q.Transposed, k, n);
        string scales = graph.Initializer<float>(w.WeightName + "_scales", q.Scales, n);
        string[] inputs = w.Bias is null ? [x, weight, scales] : [x, weight, scales, "", graph.Initializer<float>(w.BiasName!, w.Bias, n)];
        return graph.Node("DynamicQuantizeMatMul", inputs, name + "/DynamicQuantizeMatMul", domain: OnnxGraphBuilder.MicrosoftDomain)[0];
    }

    private string QuantizedMatMul(string name, string x, LinearWeights w, int bits)
    {
        var (n, k) = w.Shape;
        var q = BlockQuantizer.Quantize(w.Weight, n, k, bits, BlockSize);
        string packed = graph.Initializer(w.WeightName, OnnxDataType.UInt8, q.Packed, n, q.Blocks, q.BlobSize);
        string scales = graph.Initializer<float>(w.WeightName + "_scales", q.Scales, q.Scales.Length);
        string zeroPoints = graph.Initializer(w.WeightName + "_zero_points", OnnxDataType.UInt8, q.ZeroPoints, q.ZeroPoints.Length);
        return graph.Node("MatMulNBits", [x, packed, scales, zeroPoints], name + "/MatMulNBits", domain: OnnxGraphBuilder.MicrosoftDomain,
            attributes: [OnnxAttr.Int("K", k), OnnxAttr.Int("N", n), OnnxAttr.Int("bits", bits), OnnxAttr.Int("block_size", BlockSize),
                OnnxAttr.Int("accuracy_level", AccuracyLevel)])[0];
    }

    /// <summary>A Linear weight's [out, in].</summary>
    private (int Out, int In) LinearShape(string key)
    {
        long[] shape = checkpoint.Shape(key);
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
    /// Checks <paramref name="expected"/> (in the builders' names) against the checkpoint before anything is written:
    /// every stored tensor behind each present (for a Hugging Face-native checkpoint, each q/k/v part of a fused qkv),
    /// with its shape, in a float dtype, and nothing else in the checkpoint. Problems name the checkpoint's own keys
    /// and are reported together.
    /// </summary>
    /// <exception cref="CheckpointException">Missing, misshapen, non-float or unexpected tensors, each named.</exception>
    public static void Validate(CheckpointReader checkpoint, IReadOnlyList<ExpectedTensor> expected) =>
        Validate(checkpoint.Weights, StoredTensors(checkpoint, expected));

    /// <summary><paramref name="expected"/> in the checkpoint's own names and shapes (see <see cref="CheckpointReader.SourceTensors"/>).</summary>
    public static ExpectedTensor[] StoredTensors(CheckpointReader checkpoint, IReadOnlyList<ExpectedTensor> expected)
    {
        var stored = new List<ExpectedTensor>(expected.Count + 8);
        foreach (var tensor in expected) stored.AddRange(checkpoint.SourceTensors(tensor));
        return [.. stored];
    }

    private static void Validate(SafetensorsCheckpoint checkpoint, IReadOnlyList<ExpectedTensor> expected)
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
internal readonly record struct GraphPort(string Name, OnnxDataType Type, OnnxDim[] Dims);
