using InternVit.SK.ModelFolder;
using InternVit.SK.Checkpoints;
using InternVit.SK.Onnx;

namespace InternVit.SK.Export;

/// <summary>
/// The decoder graph for the Qwen LLMs InternVL pairs with: Qwen2/Qwen2.5 (<c>Qwen2ForCausalLM</c>, InternVL2.5/3) and
/// Qwen3 (<c>Qwen3ForCausalLM</c>, InternVL3.5), following Hugging Face's <c>modeling_qwen2.py</c> and
/// <c>modeling_qwen3.py</c>, which differ only in attention, as the config says: Qwen3 normalizes each query and key head
/// (RMSNorm over head_dim) before RoPE, has q/k/v/o biases only with <c>attention_bias</c> (Qwen2: q/k/v always, o
/// never), and states its <c>head_dim</c> (which need not be hidden_size / heads). Ports: <c>inputs_embeds</c>,
/// <c>attention_mask</c>, <c>position_ids</c>, <c>past_key_values.{i}.key/value</c> and <c>logits_to_keep</c> →
/// <c>logits</c> and <c>present.{i}.key/value</c>. Initializers keep the checkpoint keys
/// (<c>language_model.model.layers.{i}.self_attn.o_proj.weight</c>), except Linear layers computed as one product,
/// named after it (<c>…self_attn.qkv_proj.weight</c>, <c>…mlp.gate_up_proj.weight</c>); float32 Linear weights are
/// stored transposed.
/// </summary>
internal sealed class QwenDecoderGraph
{
    /// <summary>The LLM architectures (<c>llm_config.architectures[0]</c>) this builder handles.</summary>
    public static IReadOnlyList<string> Architectures { get; } = ["Qwen2ForCausalLM", "Qwen3ForCausalLM"];

    private const string InputsEmbeds = DecoderPorts.InputsEmbeds;
    private const string AttentionMask = DecoderPorts.AttentionMask;
    private const string PositionIds = DecoderPorts.PositionIds;
    private const string LogitsToKeep = DecoderPorts.LogitsToKeep;
    private const string Logits = DecoderPorts.Logits;
    private const string Model = "language_model.model";

    private readonly LlmConfig _config;
    private OnnxGraphBuilder _g = null!;
    private GraphWeights _w = null!;
    private readonly List<(string Key, string Value)> _presents = [];

    private readonly bool _fuseRotary;

    /// <param name="config">The LLM's config.</param>
    /// <param name="fuseRotary">Whether GroupQueryAttention applies RoPE itself; by default when its kernel can (head dim a multiple of 16).</param>
    public QwenDecoderGraph(LlmConfig config, bool? fuseRotary = null)
    {
        _config = config;
        _fuseRotary = fuseRotary ?? config.HeadDim % 16 == 0;
    }

    private static string PastKey(int layer) => DecoderPorts.PastKey(layer);
    private static string PastValue(int layer) => DecoderPorts.PastValue(layer);
    private static string PresentKey(int layer) => DecoderPorts.PresentKey(layer);
    private static string PresentValue(int layer) => DecoderPorts.PresentValue(layer);

    private int Hidden => _config.HiddenSize;
    private int Heads => _config.NumAttentionHeads;
    private int KvHeads => _config.KeyValueHeads;
    private int HeadDim => _config.HeadDim;

    public GraphPort[] Inputs
    {
        get
        {
            var ports = new List<GraphPort>
            {
                new(InputsEmbeds, OnnxDataType.Float, ["batch", "sequence", Hidden]),
                new(AttentionMask, OnnxDataType.Int64, ["batch", "total_sequence"]),
                new(PositionIds, OnnxDataType.Int64, ["batch", "sequence"]),
                new(LogitsToKeep, OnnxDataType.Int64, [1]),
            };
            for (int i = 0; i < _config.NumHiddenLayers; i++)
            {
                ports.Add(new(PastKey(i), OnnxDataType.Float, ["batch", KvHeads, "capacity", HeadDim]));
                ports.Add(new(PastValue(i), OnnxDataType.Float, ["batch", KvHeads, "capacity", HeadDim]));
            }
            return ports.ToArray();
        }
    }

    public GraphPort[] Outputs
    {
        get
        {
            var ports = new List<GraphPort> { new(Logits, OnnxDataType.Float, ["batch", "kept_sequence", _config.VocabSize]) };
            for (int i = 0; i < _config.NumHiddenLayers; i++)
            {
                ports.Add(new(PresentKey(i), OnnxDataType.Float, ["batch", KvHeads, "capacity", HeadDim]));
                ports.Add(new(PresentValue(i), OnnxDataType.Float, ["batch", KvHeads, "capacity", HeadDim]));
            }
            return ports.ToArray();
        }
    }

    /// <summary>The ONNX graph's name: the config's model_type (qwen2, qwen3).</summary>
    public string GraphName => _config.ModelType ?? (_config.HasQueryKeyNorm ? "qwen3" : "qwen2");

    /// <summary>The checkpoint key of the token-embedding table (kept outside the graph for a lookup).</summary>
    public static string EmbedTokensKey => $"{Model}.embed_tokens.weight";

    private static string LmHeadKey => "language_model.lm_head.weight";

    /// <summary>The tensors of language_model.*, with the shapes the config implies.</summary>
    public IReadOnlyList<ExpectedTensor> ExpectedWeights()
    {
        long h = Hidden, v = _config.VocabSize, q = Heads * HeadDim, kv = KvHeads * HeadDim, mlp = _config.IntermediateSize;
        var list = new List<ExpectedTensor> { new(EmbedTokensKey, [v, h]) };
        for (int i = 0; i < _config.NumHiddenLayers; i++)
        {
            string l = $"{Model}.layers.{i}";
            list.Add(new($"{l}.self_attn.q_proj.weight", [q, h]));
            if (_config.HasQkvBias) list.Add(new($"{l}.self_attn.q_proj.bias", [q]));
            list.Add(new($"{l}.self_attn.k_proj.weight", [kv, h]));
            if (_config.HasQkvBias) list.Add(new($"{l}.self_attn.k_proj.bias", [kv]));
            list.Add(new($"{l}.self_attn.v_proj.weight", [kv, h]));
            if (_config.HasQkvBias) list.Add(new($"{l}.self_attn.v_proj.bias", [kv]));
            list.Add(new($"{l}.self_attn.o_proj.weight", [h, q]));
            if (_config.HasOutputBias) list.Add(new($"{l}.self_attn.o_proj.bias", [h]));
            if (_config.HasQueryKeyNorm)
            {
                list.Add(new($"{l}.self_attn.q_norm.weight", [HeadDim]));
                list.Add(new($"{l}.self_attn.k_norm.weight", [HeadDim]));
            }
            list.Add(new($"{l}.mlp.gate_proj.weight", [mlp, h]));
            list.Add(new($"{l}.mlp.up_proj.weight", [mlp, h]));
            list.Add(new($"{l}.mlp.down_proj.weight", [h, mlp]));
            list.Add(new($"{l}.input_layernorm.weight", [h]));
            list.Add(new($"{l}.post_attention_layernorm.weight", [h]));
        }
        list.Add(new($"{Model}.norm.weight", [h]));
        if (!_config.TieWordEmbeddings) list.Add(new(LmHeadKey, [v, h]));
        return list;
    }

    /// <summary>Checks the config fields this builder depends on; throws naming the field it cannot honour.</summary>
    public static void CheckSupported(LlmConfig config, string configPath)
    {
        if (config.RopeScaling is { ValueKind: not System.Text.Json.JsonValueKind.Null } scaling)
            throw new CheckpointException(configPath, $"llm_config.rope_scaling {scaling.GetRawText()} is not supported yet (only plain RoPE)");
        if (config.HiddenAct != "silu")
            throw new CheckpointException(configPath, $"llm_config.hidden_act '{config.HiddenAct}' is not supported (Qwen2 and Qwen3 use silu)");
        if (config.UseSlidingWindow)
            throw new CheckpointException(configPath, "llm_config.use_sliding_window is true; sliding-window attention is not supported (InternVL's checkpoints leave it off)");
        if (config.HeadDim % 2 != 0)
            throw new CheckpointException(configPath, $"llm_config head dim {config.HeadDim} is odd; RoPE needs an even head dim");
    }

    /// <summary>Builds the graph into <paramref name="g"/>, reading weights through <paramref name="w"/>.</summary>
    public void Build(OnnxGraphBuilder g, GraphWeights w, Action<string>? progress = null)
    {
        _g = g;
        _w = w;
        var inputs = Inputs;
        foreach (var port in inputs) g.Input(port.Name, port.Type, port.Dims);

        var (seqlensK, totalLength) = SequenceLengths();
        var (cos, sin) = RotaryCaches();                           // [max_positions, d/2] each

        // The residual stream x carries a block output still to be added ("pending"): SkipSimplifiedLayerNormalization
        // adds it and normalizes in one kernel, returning (rms_norm(x + pending), x + pending).
        string x = InputsEmbeds;                                   // [B, S, H]
        string? pending = null;
        for (int i = 0; i < _config.NumHiddenLayers; i++)
        {
            progress?.Invoke($"decoder layer {i + 1}/{_config.NumHiddenLayers}");
            pending = DecoderLayer(i, ref x, pending, seqlensK, totalLength, cos, sin);
        }
        (x, _) = AddAndNorm($"{Model}.norm", x, pending);

        // lm_head on the last logits_to_keep positions (0 keeps all, as in Hugging Face).
        string start = g.Op("Neg", "lm_head/start", [LogitsToKeep]);
        x = g.Op("Slice", "lm_head/keep", [x, start, g.Int64s("lm_head/end", long.MaxValue), g.Int64s("lm_head/axis", 1)]);
        string logits = _w.Linear(GraphWeights.LmHead, x, _config.TieWordEmbeddings ? EmbedTokensKey : LmHeadKey, null);
        var outputs = Outputs;
        g.Output(logits, Logits, OnnxDataType.Float, outputs[0].Dims);
        for (int i = 0; i < _config.NumHiddenLayers; i++)
        {
            g.Output(_presents[i].Key, PresentKey(i), OnnxDataType.Float, outputs[1 + 2 * i].Dims);
            g.Output(_presents[i].Value, PresentValue(i), OnnxDataType.Float, outputs[2 + 2 * i].Dims);
        }
    }

    private float Eps => (float)_config.RmsNormEps;

    /// <summary>
    /// What GroupQueryAttention needs from attention_mask [B, T] (all ones; T = past + S): seqlens_k = Σ mask − 1, the
    /// index of each sequence's last position, and total_sequence_length = T. Attention is causal: query i sees keys
    /// j ≤ past + i, which is what the Hugging Face additive mask gives for an unpadded sequence.
    /// </summary>
    private (string SeqlensK, string TotalLength) SequenceLengths()
    {
        var g = _g;
        string sum = g.Op("ReduceSum", "attention/mask_sum", [AttentionMask, g.Int64s("attention/sum_axis", 1)], OnnxAttr.Int("keepdims", 0));
        string seqlensK = g.Op("Cast", "attention/seqlens_k", [g.Op("Sub", "attention/last_index", [sum, g.Initializer<long>("attention/one", [1])])],
            OnnxAttr.Int("to", (int)OnnxDataType.Int32));                                               // [B] int32
        string total = g.Op("Shape", "attention/total", [AttentionMask], OnnxAttr.Int("start", 1), OnnxAttr.Int("end", 2));
        return (seqlensK, g.Op("Cast", "attention/total_sequence_length", [total], OnnxAttr.Int("to", (int)OnnxDataType.Int32))); // [1] int32
    }

    /// <summary>
    /// Qwen2RotaryEmbedding as tables: cos/sin[p, j] = cos/sin(p · inv_freq[j]) in float32 for every position the
    /// context window holds, inv_freq[j] = θ^(−2j/d). The rotary kernel reads row position_ids[b, s].
    /// </summary>
    private (string Cos, string Sin) RotaryCaches()
    {
        int half = HeadDim / 2, positions = _config.MaxPositionEmbeddings;
        var invFreq = new float[half];
        float theta = (float)_config.RopeTheta;
        for (int j = 0; j < half; j++) invFreq[j] = 1f / MathF.Pow(theta, 2f * j / HeadDim);
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        for (int p = 0; p < positions; p++)
            for (int j = 0; j < half; j++)
            {
                float angle = p * invFreq[j];
                cos[p * half + j] = MathF.Cos(angle);
                sin[p * half + j] = MathF.Sin(angle);
            }
        return (_g.Initializer<float>("rotary/cos_cache", cos, positions, half), _g.Initializer<float>("rotary/sin_cache", sin, positions, half));
    }

    /// <summary>x += pending (when there is one), then RMSNorm; returns (normalized, new x).</summary>
    private (string Normalized, string Sum) AddAndNorm(string module, string x, string? pending)
    {
        string weight = _w.Tensor($"{module}.weight");
        if (pending is null) return (_g.RmsNormalization(module, x, weight, Eps), x);
        return _g.SkipRmsNormalization(module, pending, x, weight, Eps);
    }

    /// <summary>
    /// Qwen2DecoderLayer / Qwen3DecoderLayer: x += attn(input_layernorm(x)); x += mlp(post_attention_layernorm(x)). The first addition is
    /// fused into post_attention_layernorm; the MLP output is returned, for the next norm to add.
    /// </summary>
    private string DecoderLayer(int i, ref string x, string? pending, string seqlensK, string totalLength, string cos, string sin)
    {
        string l = $"{Model}.layers.{i}";
        (string h, x) = AddAndNorm($"{l}.input_layernorm", x, pending);
        h = Attention(i, $"{l}.self_attn", h, seqlensK, totalLength, cos, sin);
        (h, x) = AddAndNorm($"{l}.post_attention_layernorm", x, h);
        return Mlp($"{l}.mlp", h);
    }

    /// <summary>
    /// Qwen2Attention / Qwen3Attention with grouped-query attention: q/k/v projections (biases as the config says),
    /// computed as one product into [B, S, (heads + 2·kv_heads)·d]; for Qwen3, q_norm and k_norm (RMSNorm over each
    /// head's d values, weight [d]), which needs q, k and v apart; RoPE on q and k (x·cos + rotate_half(x)·sin, rotate_half(x) = cat(−x₂, x₁)) at
    /// position_ids; the new k/v written into the cache at positions past…past+S−1; then causal softmax(q kᵀ / √d) v
    /// per KV group (query head h uses KV head h / n_rep); then o_proj. ORT's GroupQueryAttention does the cache write
    /// and the attention, and, for head dims that are multiples of 16 (its rotary kernel's condition), the rotary too,
    /// on the packed q/k/v; otherwise q/k/v are split and rotated by RotaryEmbedding first. Past and present are one
    /// preallocated buffer [B, kv_heads, capacity, d] bound as both input and output, so no step copies the cache.
    /// </summary>
    private string Attention(int layer, string module, string x, string seqlensK, string totalLength, string cos, string sin)
    {
        var g = _g;
        string[] parts = ["q_proj", "k_proj", "v_proj"];
        string qkv = _w.Linear($"{module}.qkv_proj", x, Array.ConvertAll(parts, p => $"{module}.{p}.weight"),
            _config.HasQkvBias ? Array.ConvertAll(parts, p => $"{module}.{p}.bias") : null);
        string[] qkvInputs = [qkv, "", ""];
        if (!_fuseRotary || _config.HasQueryKeyNorm)
        {
            var split = g.Node("Split", [qkv, g.Int64s($"{module}/qkv_sizes", Heads * HeadDim, KvHeads * HeadDim, KvHeads * HeadDim)], $"{module}/split_qkv",
                outputs: 3, attributes: [OnnxAttr.Int("axis", -1)]);
            string q = split[0], k = split[1];
            if (_config.HasQueryKeyNorm)
            {
                q = HeadNorm($"{module}.q_norm", q, Heads);
                k = HeadNorm($"{module}.k_norm", k, KvHeads);
            }
            string Rotary(string name, string y, int heads) => g.Node("RotaryEmbedding", [y, PositionIds, cos, sin], name, domain: OnnxGraphBuilder.MicrosoftDomain,
                attributes: [OnnxAttr.Int("interleaved", 0), OnnxAttr.Int("num_heads", heads)])[0];
            qkvInputs = _fuseRotary ? [q, k, split[2]] : [Rotary($"{module}/q_rotary", q, Heads), Rotary($"{module}/k_rotary", k, KvHeads), split[2]];
        }
        string[] rotaryInputs = _fuseRotary ? [cos, sin, PositionIds] : [];
        var attention = g.Node("GroupQueryAttention", [.. qkvInputs, PastKey(layer), PastValue(layer), seqlensK, totalLength, .. rotaryInputs],
            $"{module}/attention", domain: OnnxGraphBuilder.MicrosoftDomain, outputNames: [null!, PresentKey(layer), PresentValue(layer)],
            attributes: [OnnxAttr.Int("num_heads", Heads), OnnxAttr.Int("kv_num_heads", KvHeads), OnnxAttr.Float("scale", 1f / MathF.Sqrt(HeadDim)),
                OnnxAttr.Int("do_rotary", _fuseRotary ? 1 : 0), OnnxAttr.Int("rotary_interleaved", 0)]);
        _presents.Add((attention[1], attention[2]));
        return _w.Linear($"{module}.o_proj", attention[0], $"{module}.o_proj.weight", _config.HasOutputBias ? $"{module}.o_proj.bias" : null); // [B, S, H]
    }

    /// <summary>
    /// Qwen3's q_norm / k_norm: y [B, S, heads·d] viewed as [B, S, heads, d], RMSNorm over the last axis (weight [d],
    /// rms_norm_eps, float32), viewed back; the reshapes only relabel the shape.
    /// </summary>
    private string HeadNorm(string module, string y, int heads)
    {
        var g = _g;
        string perHead = g.Reshape($"{module}/per_head", y, g.Int64s($"{module}/per_head_shape", 0, 0, heads, HeadDim));
        string normalized = g.RmsNormalization(module, perHead, _w.Tensor($"{module}.weight"), Eps);
        return g.Reshape($"{module}/packed", normalized, g.Int64s($"{module}/packed_shape", 0, 0, heads * HeadDim));
    }

    /// <summary>Qwen2MLP / Qwen3MLP: down(silu(gate(x)) · up(x)); gate and up computed as one product, then split.</summary>
    private string Mlp(string module, string x)
    {
        var g = _g;
        string gateUp = _w.Linear($"{module}.gate_up_proj", x, [$"{module}.gate_proj.weight", $"{module}.up_proj.weight"], null);   // [B, S, 2·I]
        var halves = g.Node("Split", [gateUp], $"{module}/split_gate_up", outputs: 2, attributes: [OnnxAttr.Int("axis", -1), OnnxAttr.Int("num_outputs", 2)]);
        string gate = halves[0], up = halves[1];
        string silu = g.Mul($"{module}.act_fn", gate, g.Op("Sigmoid", $"{module}/sigmoid", [gate]));
        return _w.Linear($"{module}.down_proj", g.Mul($"{module}/gate_times_up", silu, up), $"{module}.down_proj.weight", null);
    }
}
