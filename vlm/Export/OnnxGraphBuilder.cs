using System.Runtime.InteropServices;
using Google.Protobuf;
using InternVit.SK.Export.Proto;
using InternVit.SK.IO;
using InternVit.SK.Onnx;

namespace InternVit.SK.Export;

/// <summary>A tensor dimension in a graph signature: a fixed size or a symbolic name such as <c>batch</c>.</summary>
internal readonly record struct OnnxDim(long Value, string? Symbol)
{
    public static implicit operator OnnxDim(long value) => new(value, null);
    public static implicit operator OnnxDim(string symbol) => new(-1, symbol);
}

/// <summary>Node attributes, built with ONNX's attribute types.</summary>
internal static class OnnxAttr
{
    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };
    public static AttributeProto String(string name, string value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Floats(string name, params float[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(values);
        return a;
    }
}

/// <summary>
/// Builds one ONNX model file. Nodes are added in order and every helper returns the name of its output, so a
/// graph reads as its math. Initializers above <see cref="InlineLimit"/> bytes are streamed at once into one external
/// data file next to the model (<c>model.onnx.data</c>), which keeps memory flat and lifts protobuf's 2 GB limit.
/// The same calls give the same bytes. Nothing appears under the final names until <see cref="Save"/> succeeds.
/// </summary>
internal sealed class OnnxGraphBuilder : IDisposable
{
    /// <summary>ONNX operator set of the default domain.</summary>
    public const int DefaultOpset = 21;

    /// <summary>IR version that goes with opset 21.</summary>
    public const int IrVersion = 10;

    /// <summary>Domain of ONNX Runtime's contrib operators.</summary>
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>Alignment of each tensor in the external data file.</summary>
    private const int DataAlignment = 64;

    private readonly GraphProto _graph;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _domains = new(StringComparer.Ordinal);
    private readonly string _modelPath;
    private readonly string _dataFileName;
    private readonly string _temporaryDataPath;
    private FileStream? _data;
    private bool _saved;

    /// <param name="modelPath">Where <see cref="Save"/> puts the model; external data goes to <c>{modelPath}.data</c>.</param>
    /// <param name="graphName">The graph's name.</param>
    /// <param name="inlineLimit">Initializers of at most this many bytes are stored inside the model file.</param>
    public OnnxGraphBuilder(string modelPath, string graphName, int inlineLimit = 1024)
    {
        _modelPath = Path.GetFullPath(modelPath);
        _dataFileName = Path.GetFileName(_modelPath) + ".data";
        _graph = new GraphProto { Name = graphName };
        InlineLimit = inlineLimit;
        _temporaryDataPath = AtomicFile.TemporaryPathFor(DataPath);
    }

    /// <summary>Initializers of at most this many bytes are stored inline.</summary>
    public int InlineLimit { get; }

    /// <summary>Path of the external data file (exists after <see cref="Save"/> only if some initializer went there).</summary>
    public string DataPath => Path.Combine(Path.GetDirectoryName(_modelPath)!, _dataFileName);

    // ---- signature ----

    /// <summary>Declares a graph input and returns its name.</summary>
    public string Input(string name, OnnxDataType type, params OnnxDim[] dims)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> as a graph output named <paramref name="name"/> (adding an Identity when the names differ).</summary>
    public void Output(string value, string name, OnnxDataType type, params OnnxDim[] dims)
    {
        if (value != name) Node("Identity", [value], name, outputNames: [name]);
        _graph.Output.Add(ValueInfo(name, type, dims));
    }

    // ---- initializers ----

    /// <summary>Adds a constant tensor and returns its name (the checkpoint key, by convention).</summary>
    public string Initializer<T>(string name, ReadOnlySpan<T> values, params long[] dims) where T : unmanaged =>
        Initializer(name, OnnxDataTypes.Of<T>(), MemoryMarshal.AsBytes(values), dims);

    /// <summary>Adds a constant tensor from raw little-endian bytes (e.g. packed 4-bit weights).</summary>
    public string Initializer(string name, OnnxDataType type, ReadOnlySpan<byte> bytes, params long[] dims)
    {
        Claim(name);
        var tensor = new TensorProto { Name = name, DataType = (int)type };
        tensor.Dims.AddRange(dims);
        if (bytes.Length <= InlineLimit)
        {
            tensor.RawData = ByteString.CopyFrom(bytes);
        }
        else
        {
            var data = _data ??= AtomicFile.Create(_temporaryDataPath);
            long padding = (DataAlignment - data.Position % DataAlignment) % DataAlignment;
            for (long i = 0; i < padding; i++) data.WriteByte(0);
            long offset = data.Position;
            data.Write(bytes);
            tensor.DataLocation = TensorProto.Types.DataLocation.External;
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = _dataFileName });
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        _graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>An int64 constant such as a Reshape target shape.</summary>
    public string Int64s(string name, params long[] values) => Initializer<long>(name, values, values.Length);

    /// <summary>A scalar float32 constant.</summary>
    public string Scalar(string name, float value) => Initializer<float>(name, [value]);

    // ---- nodes ----

    /// <summary>
    /// Adds a node and returns its outputs, named <c>{name}/output_{i}</c> unless <paramref name="outputNames"/> are given.
    /// An empty input name marks an omitted optional input.
    /// </summary>
    public string[] Node(string opType, string[] inputs, string name, int outputs = 1, string domain = "",
        AttributeProto[]? attributes = null, string[]? outputNames = null)
    {
        Claim("node:" + name);
        var node = new NodeProto { OpType = opType, Name = name };
        if (domain.Length > 0)
        {
            node.Domain = domain;
            _domains.Add(domain);
        }
        node.Input.AddRange(inputs);
        var names = outputNames ?? new string[outputs];
        for (int i = 0; i < names.Length; i++)
        {
            names[i] ??= $"{name}/output_{i}";
            if (names[i].Length > 0) Claim(names[i]);
        }
        node.Output.AddRange(names);
        if (attributes is not null) node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return names;
    }

    /// <summary>Adds a single-output node of the default domain and returns its output.</summary>
    public string Op(string opType, string name, string[] inputs, params AttributeProto[] attributes) =>
        Node(opType, inputs, name, attributes: attributes)[0];

    /// <summary>a @ b.</summary>
    public string MatMul(string name, string a, string b) => Op("MatMul", name, [a, b]);

    /// <summary>a + b (broadcasting).</summary>
    public string Add(string name, string a, string b) => Op("Add", name, [a, b]);

    /// <summary>a * b (broadcasting).</summary>
    public string Mul(string name, string a, string b) => Op("Mul", name, [a, b]);

    /// <summary>x @ w + b: a Linear layer whose weight is already stored transposed ([in, out]).</summary>
    public string Linear(string name, string x, string weightInOut, string? bias)
    {
        string y = MatMul(name + "/MatMul", x, weightInOut);
        return bias is null ? y : Add(name + "/Add", y, bias);
    }

    /// <summary>Reshape to an int64 shape tensor.</summary>
    public string Reshape(string name, string x, string shape) => Op("Reshape", name, [x, shape]);

    /// <summary>Transpose with a permutation.</summary>
    public string Transpose(string name, string x, params long[] perm) => Op("Transpose", name, [x], OnnxAttr.Ints("perm", perm));

    /// <summary>Softmax along <paramref name="axis"/>.</summary>
    public string Softmax(string name, string x, long axis = -1) => Op("Softmax", name, [x], OnnxAttr.Int("axis", axis));

    /// <summary>Gaussian error linear unit; exact (erf) unless <paramref name="tanhApproximation"/>.</summary>
    public string Gelu(string name, string x, bool tanhApproximation = false) =>
        Op("Gelu", name, [x], OnnxAttr.String("approximate", tanhApproximation ? "tanh" : "none"));

    /// <summary>com.microsoft BiasGelu: the exact (erf) Gelu of x + bias, in one pass.</summary>
    public string BiasGelu(string name, string x, string bias) => Node("BiasGelu", [x, bias], name, domain: MicrosoftDomain)[0];

    /// <summary>LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * scale + bias.</summary>
    public string LayerNormalization(string name, string x, string scale, string? bias, float epsilon, long axis = -1) =>
        Op("LayerNormalization", name, bias is null ? [x, scale] : [x, scale, bias], OnnxAttr.Int("axis", axis), OnnxAttr.Float("epsilon", epsilon));

    /// <summary>
    /// RMSNorm over the last axis: x / sqrt(mean(x²) + eps) * scale, as ONNX Runtime's SimplifiedLayerNormalization
    /// (computed in float32, like Hugging Face's Qwen2RMSNorm and InternViT's InternRMSNorm).
    /// </summary>
    public string RmsNormalization(string name, string x, string scale, float epsilon) =>
        Op("SimplifiedLayerNormalization", name, [x, scale], OnnxAttr.Int("axis", -1), OnnxAttr.Float("epsilon", epsilon));

    /// <summary>2-D convolution, NCHW, with symmetric padding.</summary>
    public string Conv(string name, string x, string weight, string? bias, long[] kernel, long[] strides, long[]? pads = null)
    {
        var attributes = new List<AttributeProto> { OnnxAttr.Ints("kernel_shape", kernel), OnnxAttr.Ints("strides", strides) };
        if (pads is not null) attributes.Add(OnnxAttr.Ints("pads", pads));
        return Node("Conv", bias is null ? [x, weight] : [x, weight, bias], name, attributes: attributes.ToArray())[0];
    }

    /// <summary>
    /// com.microsoft SkipLayerNormalization: s = x + skip (+ bias); returns (LayerNorm(s) · gamma (+ beta), s).
    /// </summary>
    public (string Normalized, string Sum) SkipLayerNormalization(string name, string x, string skip, string gamma, string? beta, float epsilon,
        string? bias = null)
    {
        string[] inputs = bias is not null ? [x, skip, gamma, beta ?? "", bias] : beta is not null ? [x, skip, gamma, beta] : [x, skip, gamma];
        var outputs = Node("SkipLayerNormalization", inputs, name,
            domain: MicrosoftDomain, attributes: [OnnxAttr.Float("epsilon", epsilon)],
            outputNames: [$"{name}/output_0", "", "", $"{name}/output_3"]);
        return (outputs[0], outputs[3]);
    }

    /// <summary>
    /// com.microsoft SkipSimplifiedLayerNormalization: s = x + skip (+ bias); returns (RMSNorm(s) · scale, s).
    /// </summary>
    public (string Normalized, string Sum) SkipRmsNormalization(string name, string x, string skip, string scale, float epsilon, string? bias = null)
    {
        var outputs = Node("SkipSimplifiedLayerNormalization", bias is null ? [x, skip, scale] : [x, skip, scale, bias], name,
            domain: MicrosoftDomain, attributes: [OnnxAttr.Float("epsilon", epsilon)],
            outputNames: [$"{name}/output_0", "", "", $"{name}/output_3"]);
        return (outputs[0], outputs[3]);
    }

    // ---- saving ----

    /// <summary>Writes the model (and closes the external data file), then moves both under their final names.</summary>
    /// <param name="producerVersion">Recorded in the model.</param>
    /// <param name="metadata">Key/value pairs stored in <c>metadata_props</c>, in the given order.</param>
    public void Save(string producerVersion = "0", IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        ObjectDisposedException.ThrowIf(_saved, this);
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "InternVit.SK",
            ProducerVersion = producerVersion,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = DefaultOpset });
        foreach (string domain in _domains) model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = 1 });
        if (metadata is not null)
            foreach (var (key, value) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });

        // Order matters: the model file is what makes a folder loadable, so the old one goes first and the new one
        // arrives last; a crash in between leaves no model rather than a model paired with the wrong data.
        string temporaryModel = AtomicFile.TemporaryPathFor(_modelPath);
        FileStream? stream = null;
        try
        {
            stream = AtomicFile.Create(temporaryModel, 1 << 16);
            model.WriteTo(stream);
            stream.Flush(flushToDisk: true);
            File.Delete(_modelPath);
            if (_data is not null)
            {
                AtomicFile.Commit(_data, DataPath);
                _data = null;
            }
            else
            {
                File.Delete(DataPath); // a stale data file from an earlier build must not sit beside a model that has none
            }
            AtomicFile.Commit(stream, _modelPath);
        }
        catch
        {
            AtomicFile.Discard(stream, temporaryModel);
            throw;
        }
        _saved = true;
    }

    /// <summary>Closes the data file; an unsaved build leaves no files behind.</summary>
    public void Dispose()
    {
        if (!_saved) AtomicFile.Discard(_data, _temporaryDataPath);
        _data = null;
        _saved = true;
    }

    private void Claim(string name)
    {
        if (!_names.Add(name))
            throw new InvalidOperationException($"'{name}' is already defined in graph '{_graph.Name}'");
    }

    private static ValueInfoProto ValueInfo(string name, OnnxDataType type, OnnxDim[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d.Symbol is null ? new TensorShapeProto.Types.Dimension { DimValue = d.Value } : new TensorShapeProto.Types.Dimension { DimParam = d.Symbol });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
