using System.Text.Json;
using System.Text.Json.Nodes;

namespace InternVit.SK.Checkpoints;

/// <summary>
/// Reads a Hugging Face-native config.json (transformers' <c>InternVLConfig</c>, written by
/// <c>convert_internvl_weights_to_hf.py</c>) into the original layout's <see cref="InternVLConfig"/>: the reverse of
/// that script's <c>get_internvl_config</c>. The tiling limits come from preprocessor_config.json beside it.
/// </summary>
internal static class HuggingFaceConfig
{
    /// <summary>The conversation template: the HF configs name none; chat() of the original checkpoints uses this one.</summary>
    public const string Template = "internvl2_5";

    public const string PreprocessorConfigFile = "preprocessor_config.json";

    /// <summary>transformers' InternVLConfig default for <c>image_token_id</c> (InternVL2.5/3's <c>&lt;IMG_CONTEXT&gt;</c>), which a saved config leaves out.</summary>
    private const int DefaultImageTokenId = 151667;

    public static InternVLConfig Read(JsonElement root, string file)
    {
        var text = Object(root, "text_config", file);
        var vision = Object(root, "vision_config", file);

        // text_config has llm_config's field names. transformers writes configs as a diff against the class defaults, so
        // tie_word_embeddings is absent when false; the top-level default (true) does not apply to the text model. The
        // other fields left out take the class defaults too: transformers' InternVLVisionConfig's for the vision
        // encoder (InternViT-300M's shape), InternVLConfig's for the top level.
        var llm = TextConfigWithDefaults(text, file).Deserialize<LlmConfig>()!;
        if (llm.Architectures.Length == 0 && llm.ModelType is { } modelType)
            llm = llm with { Architectures = [modelType switch { "qwen2" => "Qwen2ForCausalLM", "qwen3" => "Qwen3ForCausalLM", _ => modelType }] };

        if (!Bool(vision, "use_mean_pooling", true, file))
            throw new CheckpointException(file, "vision_config.use_mean_pooling is false (a final LayerNorm after the encoder); InternViT has none, so this is not an InternVL model the converter knows");
        if (!Bool(vision, "use_absolute_position_embeddings", true, file))
            throw new CheckpointException(file, "vision_config.use_absolute_position_embeddings is false; InternViT adds its position embedding, so this is not an InternVL model the converter knows");
        int imageSize = Square(vision, "image_size", 448, file), patchSize = Square(vision, "patch_size", 14, file);
        var visionConfig = new InternVisionConfig
        {
            Architectures = Strings(vision, "architectures", file),
            ModelType = String(vision, "model_type", null, file),
            HiddenSize = Int(vision, "hidden_size", 1024, file),
            NumHiddenLayers = Int(vision, "num_hidden_layers", 24, file),
            NumAttentionHeads = Int(vision, "num_attention_heads", 16, file),
            IntermediateSize = Int(vision, "intermediate_size", 4096, file),
            NormType = String(vision, "norm_type", "layer_norm", file)!,
            QkNormalization = Bool(vision, "use_qk_norm", false, file),
            QkvBias = Bool(vision, "attention_bias", false, file),
            LayerNormEps = Double(vision, "layer_norm_eps", 1e-6, file),
            ImageSize = imageSize,
            PatchSize = patchSize,
            NumChannels = Int(vision, "num_channels", 3, file),
            HiddenAct = String(vision, "hidden_act", "gelu", file)!,
        };

        var (minTiles, maxTiles) = ReadTileLimits(Path.Combine(Path.GetDirectoryName(file)!, PreprocessorConfigFile));
        return new InternVLConfig
        {
            Layout = CheckpointLayout.HuggingFace,
            Architectures = Strings(root, "architectures", file),
            VisionConfig = visionConfig,
            LlmConfig = llm,
            DownsampleRatio = Double(root, "downsample_ratio", 0.5, file),
            Template = Template,
            SelectLayer = Int(root, "vision_feature_layer", -1, file),
            PsVersion = "v2",
            ForceImageSize = imageSize,
            DynamicImageSize = true,
            UseThumbnail = true,
            MinDynamicPatch = minTiles,
            MaxDynamicPatch = maxTiles,
            ImageTokenId = Int(root, "image_token_id", DefaultImageTokenId, file),
            ProjectorHiddenAct = String(root, "projector_hidden_act", "gelu", file)!,
            VisionFeatureSelectStrategy = String(root, "vision_feature_select_strategy", "default", file)!,
        };
    }

    /// <summary>
    /// Qwen2Config's and Qwen3Config's defaults (transformers), which apply to the fields a saved config leaves out
    /// because they equal them. Where LlmConfig's own defaults agree (rms_norm_eps, tie_word_embeddings, hidden_act)
    /// nothing needs filling.
    /// </summary>
    private static readonly (string Key, double Value)[] QwenDefaults =
    [
        ("vocab_size", 151936), ("hidden_size", 4096), ("intermediate_size", 22016), ("num_hidden_layers", 32),
        ("num_attention_heads", 32), ("num_key_value_heads", 32), ("max_position_embeddings", 32768), ("rope_theta", 10000),
    ];

    /// <summary>
    /// text_config with the class defaults of its model_type filled in (Qwen3's head_dim is 128 unless stated, which
    /// for Qwen3-0.6B differs from hidden_size / heads), and newer transformers' <c>rope_parameters</c> read as
    /// <c>rope_theta</c> (a rope type other than <c>default</c> is refused, as <c>rope_scaling</c> is).
    /// </summary>
    private static JsonObject TextConfigWithDefaults(JsonElement text, string file)
    {
        var config = JsonObject.Create(text)!.DeepClone().AsObject();
        // InternVLConfig takes a text_config without model_type as qwen2.
        string modelType = String(text, "model_type", "qwen2", file)!;
        config["model_type"] = modelType;
        if (modelType is "qwen2" or "qwen3")
        {
            foreach (var (key, value) in QwenDefaults)
                if (!config.ContainsKey(key)) config[key] = value;
            if (modelType == "qwen3" && !config.ContainsKey("head_dim")) config["head_dim"] = 128;
        }
        if (text.TryGetProperty("rope_parameters", out var rope) && rope.ValueKind == JsonValueKind.Object)
        {
            string type = String(rope, "rope_type", "default", file)!;
            if (type != "default")
                throw new CheckpointException(file, $"text_config.rope_parameters.rope_type '{type}' is not supported (only the default RoPE)");
            if (rope.TryGetProperty("rope_theta", out _)) config["rope_theta"] = Double(rope, "rope_theta", 10000, file);
            config.Remove("rope_parameters");
        }
        return config;
    }

    /// <summary>
    /// <c>min_patches</c>/<c>max_patches</c> of preprocessor_config.json (GotOcr2ImageProcessor; 1 and 12 when absent, its
    /// defaults). Its normalization must be InternVL's ImageNet mean and std, which the runtime applies.
    /// </summary>
    private static (int Min, int Max) ReadTileLimits(string path)
    {
        if (!File.Exists(path)) return (1, 12);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointException(path, "not a JSON object");
            var root = document.RootElement;
            RequireValues(root, "image_mean", [0.485, 0.456, 0.406], path);
            RequireValues(root, "image_std", [0.229, 0.224, 0.225], path);
            return (Int(root, "min_patches", 1, path), Int(root, "max_patches", 12, path));
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, $"not valid JSON ({e.Message})", e);
        }
    }

    private static void RequireValues(JsonElement obj, string name, double[] expected, string file)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return;
        bool same = value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == expected.Length;
        for (int i = 0; same && i < expected.Length; i++)
            same = value[i].ValueKind == JsonValueKind.Number && Math.Abs(value[i].GetDouble() - expected[i]) < 1e-6;
        if (!same)
            throw new CheckpointException(file, $"{name} {value.GetRawText()} is not InternVL's [{string.Join(", ", expected)}], the normalization the runtime applies");
    }

    private static JsonElement Object(JsonElement root, string name, string file) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object
            ? value
            : throw new CheckpointException(file, $"{name} is missing or not an object");

    private static int Int(JsonElement obj, string name, int fallback, string file) =>
        !obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? fallback
        : value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int i) ? i
        : throw WrongType(file, name, "an integer", value);

    private static double Double(JsonElement obj, string name, double fallback, string file) =>
        !obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? fallback
        : value.ValueKind == JsonValueKind.Number ? value.GetDouble()
        : throw WrongType(file, name, "a number", value);

    private static bool Bool(JsonElement obj, string name, bool fallback, string file) =>
        !obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? fallback
        : value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean()
        : throw WrongType(file, name, "true or false", value);

    private static string? String(JsonElement obj, string name, string? fallback, string file) =>
        !obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? fallback
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw WrongType(file, name, "a string", value);

    private static string[] Strings(JsonElement obj, string name, string file)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return [];
        if (value.ValueKind != JsonValueKind.Array) throw WrongType(file, name, "a list of strings", value);
        var list = new List<string>();
        foreach (var item in value.EnumerateArray())
            list.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw WrongType(file, name, "a list of strings", value));
        return [.. list];
    }

    /// <summary>A size written as a number or as a [height, width] pair (transformers writes pairs); InternViT's are square.</summary>
    private static int Square(JsonElement obj, string name, int fallback, string file)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return fallback;
        if (value.ValueKind == JsonValueKind.Number) return Int(obj, name, fallback, file);
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 2
            && value[0].ValueKind == JsonValueKind.Number && value[0].TryGetInt32(out int height)
            && value[1].ValueKind == JsonValueKind.Number && value[1].TryGetInt32(out int width))
        {
            return height == width ? height
                : throw new CheckpointException(file, $"vision_config.{name} is [{height}, {width}]; InternViT's tiles and patches are square");
        }
        throw WrongType(file, name, "a number or a [height, width] pair", value);
    }

    private static CheckpointException WrongType(string file, string name, string expected, JsonElement value) =>
        new(file, $"a field has the wrong type: '{name}' should be {expected}, not {value.GetRawText()}");
}
