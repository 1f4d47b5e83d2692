using InternVit.SK.ModelFolder;
using InternVit.SK.Checkpoints;
using InternVit.SK.Onnx;

namespace InternVit.SK.Export;

/// <summary>
/// The vision graph: InternViT encoder, then the official <c>extract_feature</c> (drop CLS, pixel shuffle, <c>mlp1</c>).
/// <c>pixel_values</c> [tiles, 3, S, S] → <c>image_features</c> [tiles, tokens_per_tile, llm_hidden].
/// Follows <c>modeling_intern_vit.py</c> and <c>modeling_internvl_chat.py</c> of OpenGVLab/InternVL; initializers keep
/// the checkpoint keys (<c>vision_model.encoder.layers.{i}.attn.qkv.weight</c>), nodes follow the module path.
/// </summary>
internal sealed class InternVitGraph
{
    private const string PixelValues = VisionPorts.PixelValues;
    private const string ImageFeatures = VisionPorts.ImageFeatures;
    private const string Embeddings = "vision_model.embeddings";

    private readonly InternVLConfig _config;
    private readonly InternVisionConfig _vision;
    private OnnxGraphBuilder _g = null!;
    private GraphWeights _w = null!;

    public InternVitGraph(InternVLConfig config)
    {
        _config = config;
        _vision = config.VisionConfig;
    }

    private int Width => _vision.HiddenSize;

    private int PatchesPerSide => _config.PatchesPerSide;

    /// <summary>Patches per side of the stored position grid (the encoder's own image size, before any forced size).</summary>
    private int StoredGridSide => _vision.ImageSize / _vision.PatchSize;

    /// <summary>
    /// Encoder layers that run: <c>select_layer</c> -1 takes the last layer's output; -k stops k-1 layers earlier
    /// (the official code indexes <c>hidden_states</c>, whose entry 0 is the embeddings).
    /// </summary>
    private int LayersUsed => _config.SelectLayer < 0 ? _vision.NumHiddenLayers + 1 + _config.SelectLayer : _config.SelectLayer;

    /// <summary>Whether <paramref name="key"/> belongs to an encoder layer that select_layer leaves out.</summary>
    public bool IsSkippedLayerWeight(string key)
    {
        for (int i = LayersUsed; i < _vision.NumHiddenLayers; i++)
            if (key.StartsWith($"vision_model.encoder.layers.{i}.", StringComparison.Ordinal)) return true;
        return false;
    }

    public GraphPort[] Inputs => [new(PixelValues, OnnxDataType.Float, ["tiles", _vision.NumChannels, _config.ImageSize, _config.ImageSize])];

    public GraphPort[] Outputs => [new(ImageFeatures, OnnxDataType.Float, ["tiles", _config.TokensPerTile, _config.LlmConfig.HiddenSize])];

    /// <summary>The tensors this graph reads, with the shapes the config implies (vision_model.* and mlp1.*).</summary>
    public IReadOnlyList<ExpectedTensor> ExpectedWeights()
    {
        long c = Width, mlp = _vision.IntermediateSize, g = StoredGridSide, p = _vision.PatchSize;
        long projectorIn = _config.ProjectorInputSize, llm = _config.LlmConfig.HiddenSize;
        var list = new List<ExpectedTensor>
        {
            new($"{Embeddings}.class_embedding", [1, 1, c]),
            new($"{Embeddings}.patch_embedding.weight", [c, _vision.NumChannels, p, p]),
            new($"{Embeddings}.patch_embedding.bias", [c]),
            new($"{Embeddings}.position_embedding", [1, 1 + g * g, c]),
        };
        // The checkpoint holds every layer even when select_layer skips the last ones; they are validated, not used.
        for (int i = 0; i < _vision.NumHiddenLayers; i++)
        {
            string l = $"vision_model.encoder.layers.{i}";
            list.Add(new($"{l}.attn.qkv.weight", [3 * c, c]));
            if (_vision.QkvBias) list.Add(new($"{l}.attn.qkv.bias", [3 * c]));
            if (_vision.QkNormalization)
            {
                list.Add(new($"{l}.attn.q_norm.weight", [c]));
                list.Add(new($"{l}.attn.k_norm.weight", [c]));
            }
            list.Add(new($"{l}.attn.proj.weight", [c, c]));
            list.Add(new($"{l}.attn.proj.bias", [c]));
            list.Add(new($"{l}.mlp.fc1.weight", [mlp, c]));
            list.Add(new($"{l}.mlp.fc1.bias", [mlp]));
            list.Add(new($"{l}.mlp.fc2.weight", [c, mlp]));
            list.Add(new($"{l}.mlp.fc2.bias", [c]));
            foreach (string norm in (string[])["norm1", "norm2"])
            {
                list.Add(new($"{l}.{norm}.weight", [c]));
                if (_vision.NormType == "layer_norm") list.Add(new($"{l}.{norm}.bias", [c]));
            }
            list.Add(new($"{l}.ls1", [c]));
            list.Add(new($"{l}.ls2", [c]));
        }
        list.Add(new("mlp1.0.weight", [projectorIn]));
        list.Add(new("mlp1.0.bias", [projectorIn]));
        list.Add(new("mlp1.1.weight", [llm, projectorIn]));
        list.Add(new("mlp1.1.bias", [llm]));
        list.Add(new("mlp1.3.weight", [llm, llm]));
        list.Add(new("mlp1.3.bias", [llm]));
        return list;
    }

    /// <summary>Builds the graph into <paramref name="g"/>, reading weights through <paramref name="w"/>.</summary>
    public void Build(OnnxGraphBuilder g, GraphWeights w, Action<string>? progress = null)
    {
        _g = g;
        _w = w;
        string pixelValues = g.Input(PixelValues, OnnxDataType.Float, Inputs[0].Dims);

        // The residual stream x carries a block output still to be added ("pending", with its Linear's bias where the
        // format leaves the bias out of the product), which the next norm adds in the same kernel
        // (SkipLayerNormalization returns both the normalized sum and the sum).
        string x = Embed(pixelValues);                                       // [N, 1 + P², C]
        Pending? pending = null;
        for (int i = 0; i < LayersUsed; i++)
        {
            progress?.Invoke($"vision layer {i + 1}/{LayersUsed}");
            pending = EncoderLayer(i, ref x, pending);
        }
        if (pending is { } last)
        {
            x = g.Add("vision_model.encoder/residual_last", x, last.Output);
            if (last.Bias is not null) x = g.Add("vision_model.encoder/residual_last_bias", x, last.Bias);
        }

        // extract_feature: drop CLS, square the tokens, pixel shuffle, project into the LLM's width.
        x = g.Op("Slice", "extract_feature/drop_cls", [x, g.Int64s("one", 1), g.Int64s("int64_max", long.MaxValue), g.Int64s("axis_1", 1)]);
        x = g.Reshape("extract_feature/to_grid", x, g.Int64s("grid_shape", 0, PatchesPerSide, PatchesPerSide, Width));
        x = PixelShuffle(x);                                                 // [N, P·r, P·r, C/r²]
        x = g.Reshape("extract_feature/to_tokens", x, g.Int64s("tokens_shape", 0, -1, _config.ProjectorInputSize));
        x = Mlp1(x);                                                         // [N, tokens, H_llm]
        g.Output(x, ImageFeatures, OnnxDataType.Float, Outputs[0].Dims);
    }

    /// <summary>InternVisionEmbeddings: 14×14 patches → CLS + patches + position embedding.</summary>
    private string Embed(string pixelValues)
    {
        var g = _g;
        long p = _vision.PatchSize;
        string patches = g.Conv($"{Embeddings}.patch_embedding", pixelValues,
            _w.Tensor($"{Embeddings}.patch_embedding.weight"), _w.Tensor($"{Embeddings}.patch_embedding.bias"), [p, p], [p, p]);
        patches = g.Reshape($"{Embeddings}/flatten", patches, g.Int64s($"{Embeddings}/flatten_shape", 0, Width, -1));   // [N, C, P²]
        patches = g.Transpose($"{Embeddings}/patches_last", patches, 0, 2, 1);                                          // [N, P², C]

        // class_embedding [1, 1, C] expanded to [N, 1, C]
        string tiles = g.Op("Shape", $"{Embeddings}/tiles", [pixelValues], OnnxAttr.Int("start", 0), OnnxAttr.Int("end", 1));
        string clsShape = g.Op("Concat", $"{Embeddings}/cls_shape", [tiles, g.Int64s($"{Embeddings}/one_by_width", 1, Width)], OnnxAttr.Int("axis", 0));
        string cls = g.Op("Expand", $"{Embeddings}/cls", [_w.Tensor($"{Embeddings}.class_embedding"), clsShape]);
        string x = g.Op("Concat", $"{Embeddings}/cat_cls", [cls, patches], OnnxAttr.Int("axis", 1));
        return g.Add($"{Embeddings}/add_position", x, PositionEmbedding());
    }

    /// <summary>
    /// The stored position embedding, resampled when the tile's patch grid differs from the stored grid: bicubic with
    /// align_corners=False, exactly as the official <c>_get_pos_embed</c> (torch's F.interpolate). At 448/14 it is the identity.
    /// </summary>
    private string PositionEmbedding()
    {
        string key = $"{Embeddings}.position_embedding";
        int stored = StoredGridSide, target = PatchesPerSide;
        if (stored == target) return _w.Tensor(key);
        float[] table = _w.Read(key);
        float[] resampled = new float[(1 + target * target) * Width];
        table.AsSpan(0, Width).CopyTo(resampled);                               // CLS position stays as is
        BicubicResample(table.AsSpan(Width), stored, resampled.AsSpan(Width), target, Width);
        return _g.Initializer<float>(key, resampled, 1, 1 + target * target, Width);
    }

    /// <summary>A block's output still to be added to the residual stream, and the bias of its last Linear when the format left it out.</summary>
    private readonly record struct Pending(string Output, string? Bias);

    /// <summary>
    /// InternVisionEncoderLayer: x += ls1 · attn(norm1(x)); x += ls2 · mlp(norm2(x)). The layer scales are folded into
    /// the Linear before them (attn.proj, mlp.fc2), each addition is fused into the norm that follows it together with
    /// the Linear's bias, and the last one (ls2 · mlp) is returned for the next layer's norm1 to add.
    /// </summary>
    private Pending EncoderLayer(int i, ref string x, Pending? pending)
    {
        var g = _g;
        string l = $"vision_model.encoder.layers.{i}";
        (string h, x) = AddAndNorm($"{l}.norm1", x, pending);
        var attention = Attention($"{l}.attn", h, $"{l}.ls1");
        (h, x) = AddAndNorm($"{l}.norm2", x, attention);
        var (fc1, fc1Bias) = _w.LinearLeavingBias($"{l}.mlp.fc1", h, $"{l}.mlp.fc1.weight", $"{l}.mlp.fc1.bias");
        h = fc1Bias is null ? g.Gelu($"{l}.mlp.act", fc1) : g.BiasGelu($"{l}.mlp.act", fc1, fc1Bias);
        var (fc2, fc2Bias) = _w.LinearLeavingBias($"{l}.mlp.fc2", h, $"{l}.mlp.fc2.weight", $"{l}.mlp.fc2.bias", $"{l}.ls2");
        return new Pending(fc2, fc2Bias);
    }

    /// <summary>
    /// x += pending (when there is one, with its bias), then norm_type: LayerNorm (with bias) or RMSNorm (weight only),
    /// eps = layer_norm_eps; returns (normalized, new x).
    /// </summary>
    private (string Normalized, string Sum) AddAndNorm(string module, string x, Pending? pending)
    {
        float eps = (float)_vision.LayerNormEps;
        bool layerNorm = _vision.NormType == "layer_norm";
        string weight = _w.Tensor($"{module}.weight");
        string? bias = layerNorm ? _w.Tensor($"{module}.bias") : null;
        if (pending is not { } p)
            return (layerNorm ? _g.LayerNormalization(module, x, weight, bias, eps) : _g.RmsNormalization(module, x, weight, eps), x);
        return layerNorm
            ? _g.SkipLayerNormalization(module, p.Output, x, weight, bias, eps, p.Bias)
            : _g.SkipRmsNormalization(module, p.Output, x, weight, eps, p.Bias);
    }

    /// <summary>
    /// InternAttention (naive path): fused qkv, optional RMSNorm of q and k over the full width before the heads split,
    /// softmax((q·d^-½) kᵀ) v per head over all tokens without a mask, then proj, scaled by the layer scale
    /// <paramref name="layerScaleKey"/> (folded into proj). The per-head attention is ORT's MultiHeadAttention on
    /// [N, L, C] inputs (heads split and merged inside the kernel; with no mask and no cache, its CPU kernel runs
    /// MLAS's blocked flash attention, so no [heads, L, L] matrix is held).
    /// </summary>
    private Pending Attention(string module, string x, string layerScaleKey)
    {
        var g = _g;
        int heads = _vision.NumAttentionHeads, headDim = _vision.HeadDim;
        string qkv = _w.Linear($"{module}.qkv", x, $"{module}.qkv.weight", _vision.QkvBias ? $"{module}.qkv.bias" : null);                                  // [N, L, 3C]
        var qkvParts = g.Node("Split", [qkv], $"{module}/split_qkv", outputs: 3, attributes: [OnnxAttr.Int("axis", -1), OnnxAttr.Int("num_outputs", 3)]);
        string q = qkvParts[0], k = qkvParts[1], v = qkvParts[2];                                     // each [N, L, C]
        if (_vision.QkNormalization)
        {
            float eps = (float)_vision.LayerNormEps;
            q = g.RmsNormalization($"{module}.q_norm", q, _w.Tensor($"{module}.q_norm.weight"), eps);
            k = g.RmsNormalization($"{module}.k_norm", k, _w.Tensor($"{module}.k_norm.weight"), eps);
        }
        string context = g.Node("MultiHeadAttention", [q, k, v], $"{module}/attention", domain: OnnxGraphBuilder.MicrosoftDomain,
            attributes: [OnnxAttr.Int("num_heads", heads), OnnxAttr.Float("scale", 1f / MathF.Sqrt(headDim))])[0];   // [N, L, C]
        var (projected, bias) = _w.LinearLeavingBias($"{module}.proj", context, $"{module}.proj.weight", $"{module}.proj.bias", layerScaleKey);
        return new Pending(projected, bias);
    }

    /// <summary>
    /// pixel_shuffle(x, scale r): [N, W, H, C] → view [N, W, H·r, C/r] → permute → view [N, H·r, W·r, C/r²]
    /// → (v2 only) permute back, so tokens stay in row-major order.
    /// </summary>
    private string PixelShuffle(string x)
    {
        var g = _g;
        double r = _config.DownsampleRatio;
        long side = PatchesPerSide, c = Width;
        long hr = (long)(side * r), wr = (long)(side * r), cOverR = (long)(c / r), cOverR2 = (long)(c / (r * r));
        x = g.Reshape("pixel_shuffle/fold_h", x, g.Int64s("pixel_shuffle/fold_h_shape", 0, side, hr, cOverR));
        x = g.Transpose("pixel_shuffle/swap_1", x, 0, 2, 1, 3);
        x = g.Reshape("pixel_shuffle/fold_w", x, g.Int64s("pixel_shuffle/fold_w_shape", 0, hr, wr, cOverR2));
        if (_config.PsVersion == "v2") x = g.Transpose("pixel_shuffle/swap_2", x, 0, 2, 1, 3);
        return x;
    }

    /// <summary>mlp1: LayerNorm(eps 1e-5) → Linear → GELU → Linear.</summary>
    private string Mlp1(string x)
    {
        var g = _g;
        x = g.LayerNormalization("mlp1.0", x, _w.Tensor("mlp1.0.weight"), _w.Tensor("mlp1.0.bias"), 1e-5f);
        x = _w.Linear("mlp1.1", x, "mlp1.1.weight", "mlp1.1.bias");
        x = g.Gelu("mlp1.2", x);
        return _w.Linear("mlp1.3", x, "mlp1.3.weight", "mlp1.3.bias");
    }

    /// <summary>
    /// torch's bicubic upsample (align_corners=False, A = -0.75, border indices clamped) of a [n, n, channels] grid to
    /// [m, m, channels], computed in double and rounded once.
    /// </summary>
    internal static void BicubicResample(ReadOnlySpan<float> source, int n, Span<float> destination, int m, int channels)
    {
        // Separable: weights per output index, then rows and columns.
        static (int[] Index, double[] Weight) Taps(int n, int m)
        {
            var index = new int[m * 4];
            var weight = new double[m * 4];
            double scale = (double)n / m;
            for (int o = 0; o < m; o++)
            {
                double real = scale * (o + 0.5) - 0.5;
                int i0 = (int)Math.Floor(real);
                double t = real - i0;
                for (int k = 0; k < 4; k++)
                {
                    index[o * 4 + k] = Math.Clamp(i0 - 1 + k, 0, n - 1);
                    weight[o * 4 + k] = Cubic(k - 1 - t);
                }
            }
            return (index, weight);
        }

        static double Cubic(double x)
        {
            const double a = -0.75;
            x = Math.Abs(x);
            return x <= 1 ? ((a + 2) * x - (a + 3)) * x * x + 1
                 : x < 2 ? ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
                 : 0;
        }

        var (index, weight) = Taps(n, m);
        for (int oy = 0; oy < m; oy++)
            for (int ox = 0; ox < m; ox++)
                for (int ch = 0; ch < channels; ch++)
                {
                    double sum = 0;
                    for (int ky = 0; ky < 4; ky++)
                    {
                        int sy = index[oy * 4 + ky];
                        double row = 0;
                        for (int kx = 0; kx < 4; kx++)
                            row += weight[ox * 4 + kx] * source[(sy * n + index[ox * 4 + kx]) * channels + ch];
                        sum += weight[oy * 4 + ky] * row;
                    }
                    destination[(oy * m + ox) * channels + ch] = (float)sum;
                }
    }
}
