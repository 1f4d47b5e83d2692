using InternVit.SK.Checkpoints;
using InternVit.SK.Onnx;

namespace InternVit.SK.Export;

/// <summary>
/// The decoder graph for Qwen2-family LLMs (<c>Qwen2ForCausalLM</c>), following Hugging Face's <c>modeling_qwen2.py</c>:
/// <c>inputs_embeds</c>, <c>attention_mask</c>, <c>position_ids</c>, <c>past_key_values.{i}.key/value</c> and
/// <c>logits_to_keep</c> → <c>logits</c> and <c>present.{i}.key/value</c>. Initializers keep the checkpoint keys
/// (<c>language_model.model.layers.{i}.self_attn.q_proj.weight</c>); Linear weights are stored transposed.
/// </summary>
internal sealed class Qwen2Graph
{
    public const string InputsEmbeds = "inputs_embeds";
    public const string AttentionMask = "attention_mask";
    public const string PositionIds = "position_ids";
    public const string LogitsToKeep = "logits_to_keep";
    public const string Logits = "logits";
    private const string Model = "language_model.model";

    private readonly LlmConfig _config;
    private OnnxGraphBuilder _g = null!;
    private GraphWeights _w = null!;
    private readonly List<(string Key, string Value)> _presents = [];

    public Qwen2Graph(LlmConfig config) => _config = config;

    public static string PastKey(int layer) => $"past_key_values.{layer}.key";
    public static string PastValue(int layer) => $"past_key_values.{layer}.value";
    public static string PresentKey(int layer) => $"present.{layer}.key";
    public static string PresentValue(int layer) => $"present.{layer}.value";

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
                new(InputsEmbeds, OrtElementType.Float, ["batch", "sequence", Hidden]),
                new(AttentionMask, OrtElementType.Int64, ["batch", "total_sequence"]),
                new(PositionIds, OrtElementType.Int64, ["batch", "sequence"]),
                new(LogitsToKeep, OrtElementType.Int64, [1]),
            };
            for (int i = 0; i < _config.NumHiddenLayers; i++)
            {
                ports.Add(new(PastKey(i), OrtElementType.Float, ["batch", KvHeads, "past_sequence", HeadDim]));
                ports.Add(new(PastValue(i), OrtElementType.Float, ["batch", KvHeads, "past_sequence", HeadDim]));
            }
            return ports.ToArray();
        }
    }

    public GraphPort[] Outputs
    {
        get
        {
            var ports = new List<GraphPort> { new(Logits, OrtElementType.Float, ["batch", "kept_sequence", _config.VocabSize]) };
            for (int i = 0; i < _config.NumHiddenLayers; i++)
            {
                ports.Add(new(PresentKey(i), OrtElementType.Float, ["batch", KvHeads, "total_sequence", HeadDim]));
                ports.Add(new(PresentValue(i), OrtElementType.Float, ["batch", KvHeads, "total_sequence", HeadDim]));
            }
            return ports.ToArray();
        }
    }

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
            list.Add(new($"{l}.self_attn.q_proj.bias", [q]));
            list.Add(new($"{l}.self_attn.k_proj.weight", [kv, h]));
            list.Add(new($"{l}.self_attn.k_proj.bias", [kv]));
            list.Add(new($"{l}.self_attn.v_proj.weight", [kv, h]));
            list.Add(new($"{l}.self_attn.v_proj.bias", [kv]));
            list.Add(new($"{l}.self_attn.o_proj.weight", [h, q]));
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
            throw new CheckpointException(configPath, $"llm_config.hidden_act '{config.HiddenAct}' is not supported (Qwen2 uses silu)");
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

        string x = InputsEmbeds;                                   // [B, S, H]
        string mask = CausalMask();                                // [B, 1, 1, S, T] additive
        var (cos, sin) = RotaryEmbedding();                        // [B, 1, S, d] each
        for (int i = 0; i < _config.NumHiddenLayers; i++)
        {
            progress?.Invoke($"decoder layer {i + 1}/{_config.NumHiddenLayers}");
            x = DecoderLayer(i, x, mask, cos, sin);
        }
        x = g.RmsNormalization($"{Model}.norm", x, _w.Tensor($"{Model}.norm.weight"), Eps);

        // lm_head on the last logits_to_keep positions (0 keeps all, as in Hugging Face).
        string start = g.Op("Neg", "lm_head/start", [LogitsToKeep]);
        x = g.Op("Slice", "lm_head/keep", [x, start, g.Int64s("lm_head/end", long.MaxValue), g.Int64s("lm_head/axis", 1)]);
        string head = _config.TieWordEmbeddings ? _w.LinearWeight(EmbedTokensKey) : _w.LinearWeight(LmHeadKey);
        string logits = g.MatMul("lm_head", x, head);
        var outputs = Outputs;
        g.Output(logits, Logits, OrtElementType.Float, outputs[0].Dims);
        for (int i = 0; i < _config.NumHiddenLayers; i++)
        {
            g.Output(_presents[i].Key, PresentKey(i), OrtElementType.Float, outputs[1 + 2 * i].Dims);
            g.Output(_presents[i].Value, PresentValue(i), OrtElementType.Float, outputs[2 + 2 * i].Dims);
        }
    }

    private float Eps => (float)_config.RmsNormEps;

    /// <summary>
    /// Key j is visible to query i when j ≤ past + i (causal) and attention_mask[b, j] is 1 (padding).
    /// Masked scores get float.MinValue added, as Hugging Face does, so even a fully masked row stays finite.
    /// </summary>
    private string CausalMask()
    {
        var g = _g;
        string seq = g.Op("Shape", "mask/sequence", [InputsEmbeds], OnnxAttr.Int("start", 1), OnnxAttr.Int("end", 2));
        string total = g.Op("Shape", "mask/total", [AttentionMask], OnnxAttr.Int("start", 1), OnnxAttr.Int("end", 2));
        string past = g.Op("Sub", "mask/past", [total, seq]);
        string zero = g.Initializer<long>("mask/zero", [0]);
        string one = g.Initializer<long>("mask/one", [1]);
        string Scalar(string name, string v) => g.Op("Squeeze", name, [v]);
        string queryPositions = g.Op("Range", "mask/query_positions", [Scalar("mask/past_scalar", past), Scalar("mask/total_scalar", total), Scalar("mask/step", one)]);
        string keyPositions = g.Op("Range", "mask/key_positions", [Scalar("mask/zero_scalar", zero), Scalar("mask/total_scalar_2", total), Scalar("mask/step_2", one)]);
        string causal = g.Op("LessOrEqual", "mask/causal",                                               // [S, T]
            [g.Op("Unsqueeze", "mask/keys_row", [keyPositions, zero]), g.Op("Unsqueeze", "mask/queries_column", [queryPositions, one])]);
        string padding = g.Op("Unsqueeze", "mask/padding", [g.Op("Cast", "mask/padding_bool", [AttentionMask], OnnxAttr.Int("to", (int)OrtElementType.Bool)), one]); // [B, 1, T]
        string allowed = g.Op("And", "mask/allowed", [causal, padding]);                                 // [B, S, T]
        string additive = g.Op("Where", "mask/additive", [allowed, g.Scalar("mask/visible", 0f), g.Scalar("mask/hidden", float.MinValue)]);
        return g.Op("Unsqueeze", "mask/for_groups", [additive, g.Int64s("mask/group_axes", 1, 2)]);     // [B, 1, 1, S, T]
    }

    /// <summary>Qwen2RotaryEmbedding: angle = position · inv_freq (float32); cos/sin of cat(angles, angles).</summary>
    private (string Cos, string Sin) RotaryEmbedding()
    {
        var g = _g;
        int half = HeadDim / 2;
        var invFreq = new float[half];
        float theta = (float)_config.RopeTheta;
        for (int j = 0; j < half; j++) invFreq[j] = 1f / MathF.Pow(theta, 2f * j / HeadDim);
        string positions = g.Op("Unsqueeze", "rotary/positions", [g.Op("Cast", "rotary/positions_float", [PositionIds], OnnxAttr.Int("to", (int)OrtElementType.Float)), g.Int64s("rotary/last_axis", -1)]);
        string angles = g.Mul("rotary/angles", positions, g.Initializer<float>("rotary/inv_freq", invFreq, half)); // [B, S, d/2]
        string emb = g.Op("Concat", "rotary/emb", [angles, angles], OnnxAttr.Int("axis", -1));                      // [B, S, d]
        string headAxis = g.Int64s("rotary/head_axis", 1);
        return (g.Op("Unsqueeze", "rotary/cos", [g.Op("Cos", "rotary/cos_raw", [emb]), headAxis]),
                g.Op("Unsqueeze", "rotary/sin", [g.Op("Sin", "rotary/sin_raw", [emb]), headAxis]));
    }

    /// <summary>Qwen2DecoderLayer: x += attn(input_layernorm(x)); x += mlp(post_attention_layernorm(x)).</summary>
    private string DecoderLayer(int i, string x, string mask, string cos, string sin)
    {
        var g = _g;
        string l = $"{Model}.layers.{i}";
        string h = g.RmsNormalization($"{l}.input_layernorm", x, _w.Tensor($"{l}.input_layernorm.weight"), Eps);
        h = Attention(i, $"{l}.self_attn", h, mask, cos, sin);
        x = g.Add($"{l}/residual_attn", x, h);
        h = g.RmsNormalization($"{l}.post_attention_layernorm", x, _w.Tensor($"{l}.post_attention_layernorm.weight"), Eps);
        h = Mlp($"{l}.mlp", h);
        return g.Add($"{l}/residual_mlp", x, h);
    }

    /// <summary>
    /// Qwen2Attention with grouped-query attention: q/k/v projections (with bias), RoPE on q and k, the new k/v appended
    /// to the past, then softmax(q kᵀ / √d + mask) v per KV group (query head h uses KV head h / n_rep), then o_proj.
    /// </summary>
    private string Attention(int layer, string module, string x, string mask, string cos, string sin)
    {
        var g = _g;
        int groups = Heads / KvHeads;
        string Project(string name, int heads)
        {
            string y = g.Linear($"{module}.{name}", x, _w.LinearWeight($"{module}.{name}.weight"), _w.Tensor($"{module}.{name}.bias"));
            y = g.Reshape($"{module}/{name}_split", y, g.Int64s($"{module}/{name}_shape", 0, 0, heads, HeadDim));
            return g.Transpose($"{module}/{name}_heads", y, 0, 2, 1, 3);                                 // [B, heads, S, d]
        }
        string q = ApplyRotary($"{module}/q_rotary", Project("q_proj", Heads), cos, sin);
        string k = ApplyRotary($"{module}/k_rotary", Project("k_proj", KvHeads), cos, sin);
        string v = Project("v_proj", KvHeads);

        string keys = g.Op("Concat", $"{module}/present_key", [PastKey(layer), k], OnnxAttr.Int("axis", 2));     // [B, kv, T, d]
        string values = g.Op("Concat", $"{module}/present_value", [PastValue(layer), v], OnnxAttr.Int("axis", 2));
        _presents.Add((keys, values));

        // Group the query heads by the KV head they share: [B, kv, n_rep, S, d] against [B, kv, 1, T, d].
        string groupAxis = g.Int64s($"{module}/group_axis", 2);
        string qGrouped = g.Reshape($"{module}/q_groups", q, g.Int64s($"{module}/q_groups_shape", 0, KvHeads, groups, -1, HeadDim));
        string kT = g.Transpose($"{module}/k_t", g.Op("Unsqueeze", $"{module}/k_group", [keys, groupAxis]), 0, 1, 2, 4, 3);
        string vGrouped = g.Op("Unsqueeze", $"{module}/v_group", [values, groupAxis]);

        string scores = g.Mul($"{module}/scale", g.MatMul($"{module}/scores", qGrouped, kT), g.Scalar($"{module}/scaling", 1f / MathF.Sqrt(HeadDim)));
        string probs = g.Softmax($"{module}/softmax", g.Add($"{module}/mask", scores, mask));
        string context = g.MatMul($"{module}/context", probs, vGrouped);                                 // [B, kv, n_rep, S, d]
        context = g.Reshape($"{module}/ungroup", context, g.Int64s($"{module}/ungroup_shape", 0, Heads, -1, HeadDim));
        context = g.Transpose($"{module}/merge_heads", context, 0, 2, 1, 3);                              // [B, S, heads, d]
        context = g.Reshape($"{module}/merge", context, g.Int64s($"{module}/merge_shape", 0, 0, Heads * HeadDim));
        return g.Linear($"{module}.o_proj", context, _w.LinearWeight($"{module}.o_proj.weight"), null);
    }

    /// <summary>apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, rotate_half(x) = cat(-x₂, x₁) over the two halves of d.</summary>
    private string ApplyRotary(string name, string x, string cos, string sin)
    {
        var g = _g;
        var halves = g.Node("Split", [x], $"{name}/halves", outputs: 2, attributes: [OnnxAttr.Int("axis", -1), OnnxAttr.Int("num_outputs", 2)]);
        string rotated = g.Op("Concat", $"{name}/rotate_half", [g.Op("Neg", $"{name}/neg", [halves[1]]), halves[0]], OnnxAttr.Int("axis", -1));
        return g.Add($"{name}/sum", g.Mul($"{name}/cos", x, cos), g.Mul($"{name}/sin", rotated, sin));
    }

    /// <summary>Qwen2MLP: down(silu(gate(x)) · up(x)).</summary>
    private string Mlp(string module, string x)
    {
        var g = _g;
        string gate = g.Linear($"{module}.gate_proj", x, _w.LinearWeight($"{module}.gate_proj.weight"), null);
        string up = g.Linear($"{module}.up_proj", x, _w.LinearWeight($"{module}.up_proj.weight"), null);
        string silu = g.Mul($"{module}.act_fn", gate, g.Op("Sigmoid", $"{module}/sigmoid", [gate]));
        return g.Linear($"{module}.down_proj", g.Mul($"{module}/gate_times_up", silu, up), _w.LinearWeight($"{module}.down_proj.weight"), null);
    }
}
