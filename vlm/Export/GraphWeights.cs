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
internal sealed class GraphWeights(SafetensorsCheckpoint checkpoint, OnnxGraphBuilder graph)
{
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
    public string LinearWeight(string key)
    {
        long[] shape = checkpoint.GetInfo(key).Shape;
        if (shape.Length != 2) throw new InvalidOperationException($"'{key}' has shape [{string.Join(",", shape)}], not [out, in]");
        int rows = checked((int)shape[0]), columns = checked((int)shape[1]);
        float[] weight = Read(key);
        float[] transposed = new float[weight.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = weight.AsSpan(r * columns, columns);
            for (int c = 0; c < columns; c++) transposed[(long)c * rows + r] = row[c];
        }
        return graph.Initializer<float>(key, transposed, columns, rows);
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

/// <summary>One input or output of a graph, as recorded in the manifest: name, element type and dimensions (numbers or symbols).</summary>
internal readonly record struct GraphPort(string Name, OrtElementType Type, OnnxDim[] Dims);
