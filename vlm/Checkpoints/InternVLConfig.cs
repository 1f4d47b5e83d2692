using System.Text.Json;
using System.Text.Json.Serialization;

namespace InternVit.SK.Checkpoints;

/// <summary>
/// <c>config.json</c> of an InternVL checkpoint. Property names are those of the original layout
/// (<c>InternVLChatModel</c>, as OpenGVLab publishes InternVL2/2.5/3/3.5); a Hugging Face-native config
/// (<c>InternVLForConditionalGeneration</c>, the "-hf" repositories) is read into the same fields, see <see cref="Layout"/>.
/// </summary>
public sealed record InternVLConfig
{
    /// <summary><c>architectures</c>, e.g. <c>InternVLChatModel</c>.</summary>
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = [];

    /// <summary>The InternViT encoder.</summary>
    [JsonPropertyName("vision_config")] public InternVisionConfig VisionConfig { get; init; } = null!;

    /// <summary>The language model (Qwen2, InternLM2, Llama, Phi-3 ...).</summary>
    [JsonPropertyName("llm_config")] public LlmConfig LlmConfig { get; init; } = null!;

    /// <summary>Pixel-shuffle scale (0.5: 2×2 patches become one token).</summary>
    [JsonPropertyName("downsample_ratio")] public double DownsampleRatio { get; init; } = 0.5;

    /// <summary>Conversation template name, e.g. <c>internvl2_5</c>, <c>Hermes-2</c>.</summary>
    [JsonPropertyName("template")] public string? Template { get; init; }

    /// <summary>Which encoder layer feeds the projector (-1: the last).</summary>
    [JsonPropertyName("select_layer")] public int SelectLayer { get; init; } = -1;

    /// <summary>Pixel-shuffle version (<c>v2</c> in current checkpoints).</summary>
    [JsonPropertyName("ps_version")] public string PsVersion { get; init; } = "v1";

    /// <summary>Tile size in pixels (448), when forced.</summary>
    [JsonPropertyName("force_image_size")] public int? ForceImageSize { get; init; }

    /// <summary>Whether images are tiled dynamically.</summary>
    [JsonPropertyName("dynamic_image_size")] public bool DynamicImageSize { get; init; }

    /// <summary>Whether a whole-image thumbnail follows the tiles.</summary>
    [JsonPropertyName("use_thumbnail")] public bool UseThumbnail { get; init; }

    /// <summary>Fewest tiles per image.</summary>
    [JsonPropertyName("min_dynamic_patch")] public int MinDynamicPatch { get; init; } = 1;

    /// <summary>Most tiles per image.</summary>
    [JsonPropertyName("max_dynamic_patch")] public int MaxDynamicPatch { get; init; } = 12;

    /// <summary>Whether images are padded to a square (old checkpoints).</summary>
    [JsonPropertyName("pad2square")] public bool Pad2Square { get; init; }

    /// <summary>Which layout the folder is in: the original one, or the Hugging Face-native one read into these same fields.</summary>
    [JsonIgnore] public CheckpointLayout Layout { get; init; } = CheckpointLayout.Original;

    /// <summary>Hugging Face-native layout: <c>image_token_id</c>, which must be the tokenizer's <c>&lt;IMG_CONTEXT&gt;</c>.</summary>
    [JsonIgnore] internal int? ImageTokenId { get; init; }

    /// <summary>Hugging Face-native layout: <c>projector_hidden_act</c> (the original projector is always exact GELU).</summary>
    [JsonIgnore] internal string ProjectorHiddenAct { get; init; } = "gelu";

    /// <summary>Hugging Face-native layout: <c>vision_feature_select_strategy</c> (<c>default</c> drops the CLS token, as the original does).</summary>
    [JsonIgnore] internal string VisionFeatureSelectStrategy { get; init; } = "default";

    /// <summary>The tile size the model sees: <see cref="ForceImageSize"/> or the encoder's image size.</summary>
    [JsonIgnore] public int ImageSize => ForceImageSize ?? VisionConfig.ImageSize;

    /// <summary>Patches per side of a tile (448 / 14 = 32).</summary>
    [JsonIgnore] public int PatchesPerSide => ImageSize / VisionConfig.PatchSize;

    /// <summary>LLM tokens one tile becomes: (patches per side × downsample ratio)² = 256 for 448/14/0.5.</summary>
    [JsonIgnore] public int TokensPerTile => (int)Math.Round(PatchesPerSide * DownsampleRatio) * (int)Math.Round(PatchesPerSide * DownsampleRatio);

    /// <summary>Width of the projector's input: the encoder width times 1/downsample².</summary>
    [JsonIgnore] public int ProjectorInputSize => (int)Math.Round(VisionConfig.HiddenSize / (DownsampleRatio * DownsampleRatio));

    /// <summary>Reads and validates <paramref name="path"/> (a config.json or the folder holding it).</summary>
    /// <exception cref="CheckpointException">Missing file, invalid JSON, or a field InternVL needs is absent or out of range.</exception>
    public static InternVLConfig Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file)) throw new CheckpointException(file, "file not found (a checkpoint folder needs config.json)");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(file), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new CheckpointException(file, $"not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new CheckpointException(file, "not a JSON object");
            if (!root.TryGetProperty("vision_config", out _))
                throw new CheckpointException(file, "config has no vision_config, so it is not an InternVL checkpoint");
            bool huggingFace = root.TryGetProperty("text_config", out _);
            if (!huggingFace && !root.TryGetProperty("llm_config", out _))
                throw new CheckpointException(file, "config has no llm_config (original layout) nor text_config (Hugging Face-native layout), so it is not an InternVL chat checkpoint");
            InternVLConfig config;
            try
            {
                config = huggingFace ? HuggingFaceConfig.Read(root, file) : root.Deserialize<InternVLConfig>()!;
            }
            catch (JsonException e)
            {
                throw new CheckpointException(file, $"a field has the wrong type: {e.Message}", e);
            }
            config.Validate(file);
            return config;
        }
    }

    private void Validate(string file)
    {
        void Require(bool condition, string problem)
        {
            if (!condition) throw new CheckpointException(file, problem);
        }

        var v = VisionConfig;
        Require(v.HiddenSize > 0 && v.NumHiddenLayers > 0 && v.NumAttentionHeads > 0 && v.IntermediateSize > 0,
            "vision_config needs positive hidden_size, num_hidden_layers, num_attention_heads and intermediate_size");
        Require(v.HiddenSize % v.NumAttentionHeads == 0, $"vision_config.hidden_size {v.HiddenSize} is not divisible by num_attention_heads {v.NumAttentionHeads}");
        Require(v.NormType is "layer_norm" or "rms_norm", $"vision_config.norm_type '{v.NormType}' is neither layer_norm nor rms_norm");
        Require(v.PatchSize > 0 && ImageSize % v.PatchSize == 0, $"image size {ImageSize} is not a multiple of patch_size {v.PatchSize}");
        Require(DownsampleRatio > 0 && DownsampleRatio <= 1, $"downsample_ratio {DownsampleRatio} is outside (0, 1]");
        Require(PsVersion is "v1" or "v2", $"ps_version '{PsVersion}' is neither v1 nor v2");
        Require(MinDynamicPatch >= 1 && MaxDynamicPatch >= MinDynamicPatch, $"min/max_dynamic_patch {MinDynamicPatch}/{MaxDynamicPatch} are out of order");
        var l = LlmConfig;
        Require(l.Architectures.Length > 0, "llm_config has no architectures");
        Require(l.HiddenSize > 0 && l.NumHiddenLayers > 0 && l.NumAttentionHeads > 0 && l.VocabSize > 0,
            "llm_config needs positive hidden_size, num_hidden_layers, num_attention_heads and vocab_size");
        if (l.ExplicitHeadDim is int headDim)
            Require(headDim > 0, $"llm_config.head_dim {headDim} is not positive");
        else
            Require(l.HiddenSize % l.NumAttentionHeads == 0, $"llm_config.hidden_size {l.HiddenSize} is not divisible by num_attention_heads {l.NumAttentionHeads} (and there is no head_dim)");
        Require(l.KeyValueHeads > 0, $"llm_config.num_key_value_heads {l.KeyValueHeads} is not positive");
        Require(l.NumAttentionHeads % l.KeyValueHeads == 0, $"llm_config.num_attention_heads {l.NumAttentionHeads} is not a multiple of num_key_value_heads {l.KeyValueHeads}");
    }
}

/// <summary><c>vision_config</c>: the InternViT encoder.</summary>
public sealed record InternVisionConfig
{
    /// <summary><c>architectures</c> (InternVisionModel).</summary>
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = [];
    /// <summary><c>model_type</c> (intern_vit_6b).</summary>
    [JsonPropertyName("model_type")] public string? ModelType { get; init; }
    /// <summary>Width.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    /// <summary>Encoder layers.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    /// <summary>Attention heads.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    /// <summary>MLP width.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    /// <summary><c>layer_norm</c> (300M) or <c>rms_norm</c> (6B).</summary>
    [JsonPropertyName("norm_type")] public string NormType { get; init; } = "rms_norm";
    /// <summary>Whether q and k are RMS-normalized over the full width before the heads split.</summary>
    [JsonPropertyName("qk_normalization")] public bool QkNormalization { get; init; }
    /// <summary>Whether the fused qkv projection has a bias.</summary>
    [JsonPropertyName("qkv_bias")] public bool QkvBias { get; init; } = true;
    /// <summary>Norm epsilon.</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-6;
    /// <summary>Trained image size.</summary>
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 448;
    /// <summary>Patch size.</summary>
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 14;
    /// <summary>Input channels.</summary>
    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;
    /// <summary>MLP activation (gelu).</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";

    /// <summary>Per-head width.</summary>
    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;
}

/// <summary><c>llm_config</c>: the language model, in its Hugging Face config form.</summary>
public sealed record LlmConfig
{
    /// <summary><c>architectures</c>, e.g. <c>Qwen2ForCausalLM</c>.</summary>
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = [];
    /// <summary><c>model_type</c>, e.g. <c>qwen2</c>.</summary>
    [JsonPropertyName("model_type")] public string? ModelType { get; init; }
    /// <summary>Width.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    /// <summary>MLP width.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    /// <summary>Decoder layers.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    /// <summary>Query heads.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    /// <summary>Key/value heads (null: same as query heads).</summary>
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    /// <summary>Vocabulary size including added tokens.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    /// <summary>RMSNorm epsilon.</summary>
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>RoPE base.</summary>
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000;
    /// <summary>RoPE scaling block, when any (kept raw).</summary>
    [JsonPropertyName("rope_scaling")] public JsonElement? RopeScaling { get; init; }
    /// <summary>Context window the model was trained for.</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; }
    /// <summary>Whether lm_head shares embed_tokens.</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    /// <summary>Activation (silu).</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    /// <summary>BOS id.</summary>
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    /// <summary>EOS id(s): a number or a list in config.json.</summary>
    [JsonPropertyName("eos_token_id")] public JsonElement? EosTokenIdRaw { get; init; }

    /// <summary>Key/value heads, defaulting to the query heads.</summary>
    [JsonIgnore] public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;

    /// <summary><c>head_dim</c>, when the config states it (Qwen3: 128 for every size, not hidden_size / heads).</summary>
    [JsonPropertyName("head_dim")] public int? ExplicitHeadDim { get; init; }
    /// <summary><c>attention_bias</c> (Qwen3: whether q/k/v/o_proj have biases); absent in Qwen2 configs, whose q/k/v always have them.</summary>
    [JsonPropertyName("attention_bias")] public bool? AttentionBias { get; init; }
    /// <summary><c>use_sliding_window</c> (Qwen2/Qwen3); false in every released InternVL checkpoint.</summary>
    [JsonPropertyName("use_sliding_window")] public bool UseSlidingWindow { get; init; }

    /// <summary>Per-head width: <c>head_dim</c> when stated, otherwise hidden_size / num_attention_heads (as transformers does).</summary>
    [JsonIgnore] public int HeadDim => ExplicitHeadDim ?? HiddenSize / NumAttentionHeads;

    /// <summary>Whether this is a Qwen3 decoder (<c>Qwen3ForCausalLM</c>): per-head RMSNorm on queries and keys before RoPE.</summary>
    [JsonIgnore] public bool HasQueryKeyNorm => Architectures.Length > 0 && Architectures[0] == "Qwen3ForCausalLM";

    /// <summary>Whether q/k/v_proj have biases: always in Qwen2; <c>attention_bias</c> (default false) in Qwen3.</summary>
    [JsonIgnore] public bool HasQkvBias => HasQueryKeyNorm ? AttentionBias ?? false : true;

    /// <summary>Whether o_proj has a bias: never in Qwen2; <c>attention_bias</c> in Qwen3.</summary>
    [JsonIgnore] public bool HasOutputBias => HasQueryKeyNorm && (AttentionBias ?? false);

    /// <summary>EOS ids as a list.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> EosTokenIds => EosTokenIdRaw switch
    {
        { ValueKind: JsonValueKind.Number } e => [e.GetInt32()],
        { ValueKind: JsonValueKind.Array } e => e.EnumerateArray().Select(x => x.GetInt32()).ToArray(),
        _ => [],
    };
}
