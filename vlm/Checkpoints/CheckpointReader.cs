using InternVit.SK.Export;

namespace InternVit.SK.Checkpoints;

/// <summary>
/// The weights of a checkpoint folder seen under the names the graph builders use, which are the original layout's
/// keys (<c>vision_model.encoder.layers.0.attn.qkv.weight</c>). For the original layout the view is the identity. For
/// the Hugging Face-native layout each name maps to the tensor transformers' conversion script wrote for it, or to
/// several concatenated along dim 0: the vision attention's <c>qkv</c> is its <c>q_proj</c>, <c>k_proj</c> and
/// <c>v_proj</c> stacked in that order. Stored names (<c>vision_tower.*</c>, <c>language_model.lm_head.weight</c>)
/// and the <c>model.</c>-prefixed spelling of transformers' in-memory modules (<c>model.vision_tower.*</c>,
/// <c>lm_head.weight</c>) are both accepted, tensor by tensor.
/// </summary>
internal sealed class CheckpointReader : IDisposable
{
    private readonly SafetensorsCheckpoint _weights;

    private CheckpointReader(SafetensorsCheckpoint weights, CheckpointLayout layout, bool prefixed)
    {
        _weights = weights;
        Layout = layout;
        ModelPrefixed = prefixed;
    }

    /// <summary>The layout the names are mapped from.</summary>
    public CheckpointLayout Layout { get; }

    /// <summary>Hugging Face-native layout: whether the file spells its names with the <c>model.</c> prefix (used to name absent tensors).</summary>
    public bool ModelPrefixed { get; }

    /// <summary>The weight files as stored.</summary>
    public SafetensorsCheckpoint Weights => _weights;

    /// <summary>The folder.</summary>
    public string Directory => _weights.Directory;

    /// <summary>Opens the weights of <paramref name="directory"/>, whose config.json is in <paramref name="layout"/>.</summary>
    /// <exception cref="CheckpointException">No weights or corrupt files, or weights in the other layout than the config.</exception>
    public static CheckpointReader Open(string directory, CheckpointLayout layout)
    {
        var weights = SafetensorsCheckpoint.Open(directory);
        try
        {
            string? original = null, huggingFace = null;
            bool prefixed = false;
            foreach (var tensor in weights.Tensors)
            {
                string name = tensor.Name;
                if (name.StartsWith("vision_model.", StringComparison.Ordinal) || name.StartsWith("mlp1.", StringComparison.Ordinal)) original ??= name;
                if (name.StartsWith("vision_tower.", StringComparison.Ordinal) || name.StartsWith("multi_modal_projector.", StringComparison.Ordinal)) huggingFace ??= name;
                if (name.StartsWith("model.vision_tower.", StringComparison.Ordinal) || name.StartsWith("model.multi_modal_projector.", StringComparison.Ordinal)
                    || name.StartsWith("model.language_model.", StringComparison.Ordinal))
                {
                    huggingFace ??= name;
                    prefixed = true;
                }
            }
            if (layout == CheckpointLayout.Original && huggingFace is not null)
                throw new CheckpointException(directory,
                    $"config.json is in the original InternVL layout (llm_config), but the weights hold a tensor of the Hugging Face-native one ('{huggingFace}'); the folder mixes two checkpoints");
            if (layout == CheckpointLayout.HuggingFace && original is not null)
                throw new CheckpointException(directory,
                    $"config.json is in the Hugging Face-native layout (text_config), but the weights hold a tensor of the original one ('{original}'); the folder mixes two checkpoints");
            return new CheckpointReader(weights, layout, prefixed);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The stored tensors that make up the graph tensor <paramref name="expected"/>, with the shapes they must have: the
    /// tensor itself in the original layout; in the Hugging Face-native one its renamed counterpart, or the parts it is
    /// concatenated from, each an equal share of dim 0.
    /// </summary>
    public ExpectedTensor[] SourceTensors(ExpectedTensor expected) => Split(expected, SourceNames(expected.Name));

    /// <summary><see cref="SourceTensors"/> for a folder without weights yet: the names as transformers stores them.</summary>
    public static ExpectedTensor[] StoredTensors(ExpectedTensor expected, CheckpointLayout layout) =>
        layout == CheckpointLayout.Original ? [expected] : Split(expected, HuggingFaceNames(expected.Name, prefixed: false));

    private static ExpectedTensor[] Split(ExpectedTensor expected, string[] names)
    {
        if (names.Length == 1) return [new ExpectedTensor(names[0], expected.Shape)];
        long[] part = (long[])expected.Shape.Clone();
        part[0] /= names.Length;
        var parts = new ExpectedTensor[names.Length];
        for (int i = 0; i < names.Length; i++) parts[i] = new ExpectedTensor(names[i], part);
        return parts;
    }

    /// <summary>The shape of the graph tensor <paramref name="name"/>: its parts' shapes, dim 0 added up.</summary>
    /// <exception cref="CheckpointException">A part is absent.</exception>
    public long[] Shape(string name)
    {
        string[] names = SourceNames(name);
        long[] shape = (long[])_weights.GetInfo(names[0]).Shape.Clone();
        for (int i = 1; i < names.Length; i++) shape[0] += _weights.GetInfo(names[i]).Shape[0];
        return shape;
    }

    /// <summary>Reads the graph tensor <paramref name="name"/> as float32, its parts concatenated along dim 0.</summary>
    /// <exception cref="CheckpointException">A part is absent.</exception>
    public float[] ReadFloat32(string name)
    {
        string[] names = SourceNames(name);
        if (names.Length == 1) return _weights.ReadFloat32(names[0]);
        long total = 0;
        foreach (string part in names) total += _weights.GetInfo(part).ElementCount;
        var values = new float[total];
        int at = 0;
        foreach (string part in names)
        {
            int count = checked((int)_weights.GetInfo(part).ElementCount);
            _weights.ReadFloat32(part, values.AsSpan(at, count));
            at += count;
        }
        return values;
    }

    /// <summary>The one stored tensor behind the graph tensor <paramref name="name"/> (e.g. the embedding table, copied as stored).</summary>
    public SafetensorsTensorInfo StoredTensor(string name)
    {
        string[] names = SourceNames(name);
        if (names.Length != 1) throw new InvalidOperationException($"'{name}' is concatenated from {names.Length} stored tensors");
        return _weights.GetInfo(names[0]);
    }

    /// <summary>The stored names behind a graph tensor name, in concatenation order.</summary>
    private string[] SourceNames(string name)
    {
        if (Layout == CheckpointLayout.Original) return [name];
        string[] stored = HuggingFaceNames(name, prefixed: false), spelled = HuggingFaceNames(name, prefixed: true);
        for (int i = 0; i < stored.Length; i++)
            if (!_weights.Contains(stored[i]) && (_weights.Contains(spelled[i]) || ModelPrefixed)) stored[i] = spelled[i];
        return stored;
    }

    /// <summary>
    /// transformers' <c>convert_internvl_weights_to_hf.py</c> key mapping (goldens README section 5), from the original
    /// name to the Hugging Face-native one(s); <paramref name="prefixed"/> gives the <c>model.</c>-prefixed spelling.
    /// </summary>
    internal static string[] HuggingFaceNames(string name, bool prefixed)
    {
        string vision = prefixed ? "model.vision_tower." : "vision_tower.";
        string projector = prefixed ? "model.multi_modal_projector." : "multi_modal_projector.";
        const string Embeddings = "vision_model.embeddings.", Layers = "vision_model.encoder.layers.", LanguageModel = "language_model.model.";
        if (name.StartsWith(Embeddings, StringComparison.Ordinal))
        {
            string rest = name[Embeddings.Length..] switch
            {
                "class_embedding" => "cls_token",
                "patch_embedding.weight" => "patch_embeddings.projection.weight",
                "patch_embedding.bias" => "patch_embeddings.projection.bias",
                "position_embedding" => "position_embeddings",
                _ => throw Unmapped(name),
            };
            return [vision + "embeddings." + rest];
        }
        if (name.StartsWith(Layers, StringComparison.Ordinal))
        {
            int dot = name.IndexOf('.', Layers.Length);
            string layer = vision + "encoder.layer." + name[Layers.Length..dot] + ".";
            string rest = name[(dot + 1)..];
            return rest switch
            {
                "attn.qkv.weight" => [layer + "attention.q_proj.weight", layer + "attention.k_proj.weight", layer + "attention.v_proj.weight"],
                "attn.qkv.bias" => [layer + "attention.q_proj.bias", layer + "attention.k_proj.bias", layer + "attention.v_proj.bias"],
                "attn.proj.weight" => [layer + "attention.projection_layer.weight"],
                "attn.proj.bias" => [layer + "attention.projection_layer.bias"],
                "attn.q_norm.weight" => [layer + "attention.q_norm.weight"],
                "attn.k_norm.weight" => [layer + "attention.k_norm.weight"],
                "ls1" => [layer + "lambda_1"],
                "ls2" => [layer + "lambda_2"],
                _ when rest.StartsWith("mlp.", StringComparison.Ordinal) => [layer + rest],
                _ when rest.StartsWith("norm1.", StringComparison.Ordinal) => [layer + "layernorm_before." + rest["norm1.".Length..]],
                _ when rest.StartsWith("norm2.", StringComparison.Ordinal) => [layer + "layernorm_after." + rest["norm2.".Length..]],
                _ => throw Unmapped(name),
            };
        }
        if (name.StartsWith("mlp1.", StringComparison.Ordinal))
        {
            int dot = name.IndexOf('.', "mlp1.".Length);
            string module = name["mlp1.".Length..dot] switch
            {
                "0" => "layer_norm",
                "1" => "linear_1",
                "3" => "linear_2",
                _ => throw Unmapped(name),
            };
            return [projector + module + name[dot..]];
        }
        if (name.StartsWith(LanguageModel, StringComparison.Ordinal))
            return [prefixed ? "model.language_model." + name[LanguageModel.Length..] : name];
        if (name == "language_model.lm_head.weight")
            return [prefixed ? "lm_head.weight" : name];
        throw Unmapped(name);
    }

    private static InvalidOperationException Unmapped(string name) =>
        new($"internal error: no Hugging Face-native name for the graph tensor '{name}'");

    /// <inheritdoc />
    public void Dispose() => _weights.Dispose();
}
