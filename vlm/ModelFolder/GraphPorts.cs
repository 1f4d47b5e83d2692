namespace InternVit.SK.ModelFolder;

/// <summary>
/// The files of a converted model folder: what the converter writes and the runtime opens (with
/// <see cref="ModelManifest.FileName"/>, which names them again).
/// </summary>
internal static class ModelFiles
{
    /// <summary>The vision graph: tiles → image features.</summary>
    public const string VisionGraph = "vision.onnx";

    /// <summary>The decoder graph: embeddings + KV cache → logits.</summary>
    public const string DecoderGraph = "decoder.onnx";

    /// <summary>The optional prefill graph (<see cref="Precision.Int4Prefill8"/>), with the decoder's ports.</summary>
    public const string PrefillGraph = "decoder_prefill.onnx";

    /// <summary>The token-embedding table.</summary>
    public const string Embeddings = "embeddings.safetensors";
}

/// <summary>Port names of the vision graph.</summary>
internal static class VisionPorts
{
    /// <summary>Normalized tiles, float32 [tiles, 3, S, S].</summary>
    public const string PixelValues = "pixel_values";

    /// <summary>Projected features, float32 [tiles, tokens_per_tile, hidden].</summary>
    public const string ImageFeatures = "image_features";
}

/// <summary>
/// Port names of the decoder (and prefill) graph: the inputs, then per layer the KV buffers bound as both past and
/// present, so the graph writes new positions in place.
/// </summary>
internal static class DecoderPorts
{
    /// <summary>float32 [batch, sequence, hidden].</summary>
    public const string InputsEmbeds = "inputs_embeds";

    /// <summary>int64 [batch, total_sequence]: ones for every position held and new.</summary>
    public const string AttentionMask = "attention_mask";

    /// <summary>int64 [batch, sequence].</summary>
    public const string PositionIds = "position_ids";

    /// <summary>int64 [1]: how many last positions get logits (0: all).</summary>
    public const string LogitsToKeep = "logits_to_keep";

    /// <summary>float32 [batch, kept_sequence, vocab].</summary>
    public const string Logits = "logits";

    /// <summary>Layer <paramref name="layer"/>'s key buffer, input side.</summary>
    public static string PastKey(int layer) => $"past_key_values.{layer}.key";

    /// <summary>Layer <paramref name="layer"/>'s value buffer, input side.</summary>
    public static string PastValue(int layer) => $"past_key_values.{layer}.value";

    /// <summary>Layer <paramref name="layer"/>'s key buffer, output side (the same memory as the input).</summary>
    public static string PresentKey(int layer) => $"present.{layer}.key";

    /// <summary>Layer <paramref name="layer"/>'s value buffer, output side (the same memory as the input).</summary>
    public static string PresentValue(int layer) => $"present.{layer}.value";
}
