using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using InternVit.SK.Checkpoints;

namespace InternVit.SK.ModelFolder;

/// <summary>
/// <c>manifest.json</c> of a converted model folder: the contract between the converter and the runtime. A folder is
/// a model exactly when this file is present and valid; the converter writes it last.
/// </summary>
/// <remarks>
/// Schema, format version 2 (all names snake_case; version 2 changed the decoder to a preallocated, shared past/present KV buffer):
/// <code>
/// format            "internvit-sk-model"
/// format_version    2
/// created_by        converter name and version
/// source            architecture, llm_architecture, sha256 (over config.json and weight files), files [{name, bytes, sha256}]
/// precision         "fp32"
/// template          conversation template name from config.json (e.g. "internvl2_5")
/// image             image_size, patch_size, tokens_per_tile, min_tiles, max_tiles, use_thumbnail, dynamic_image_size, mean[3], std[3]
/// vision            graph {file, inputs, outputs}: pixel_values [tiles,3,S,S] → image_features [tiles,tokens_per_tile,hidden]
/// decoder           graph {file, inputs, outputs} plus architecture, layers, hidden_size, heads, kv_heads, head_dim,
///                   vocab_size, max_position_embeddings, rope_theta, rms_norm_eps
/// prefill           optional graph {file, inputs, outputs}: a decoder with the decoder's ports and KV format, run for calls of
///                   more than one position (precision "int4-prefill8"); absent, the decoder runs every call
/// embeddings        file, tensor, dtype, shape [vocab, hidden]: the token-embedding table, in the checkpoint's dtype
/// tokenizer         files: tokenizer files copied from the checkpoint
/// special_tokens    img_start, img_end, img_context, eos [ids], pad (null when absent)
/// </code>
/// A port is {name, type ("float32", "int64"), shape [numbers or symbol strings]}.
/// </remarks>
public sealed record ModelManifest
{
    /// <summary>File name inside a model folder.</summary>
    public const string FileName = "manifest.json";

    /// <summary>Value of <see cref="Format"/>.</summary>
    public const string FormatName = "internvit-sk-model";

    /// <summary>The format version this library writes and reads.</summary>
    public const int CurrentFormatVersion = 2;

    /// <summary>Always <see cref="FormatName"/>.</summary>
    [JsonPropertyName("format")] public string Format { get; init; } = FormatName;

    /// <summary>Schema version.</summary>
    [JsonPropertyName("format_version")] public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>Converter name and version.</summary>
    [JsonPropertyName("created_by")] public string CreatedBy { get; init; } = "";

    /// <summary>The checkpoint this folder was converted from.</summary>
    [JsonPropertyName("source")] public ManifestSource Source { get; init; } = new();

    /// <summary>Weight precision of the graphs (<c>fp32</c>, <c>fp16</c>, <c>int8</c>, <c>int4</c>, <c>int4-prefill8</c>).</summary>
    [JsonPropertyName("precision")] public Precision Precision { get; init; } = Precision.Fp32;

    /// <summary>Conversation template name from the checkpoint's config.</summary>
    [JsonPropertyName("template")] public string? Template { get; init; }

    /// <summary>Tiling and normalization the vision graph expects.</summary>
    [JsonPropertyName("image")] public ManifestImage Image { get; init; } = new();

    /// <summary>The vision graph.</summary>
    [JsonPropertyName("vision")] public ManifestGraph Vision { get; init; } = new();

    /// <summary>The decoder graph and its dimensions.</summary>
    [JsonPropertyName("decoder")] public ManifestDecoder Decoder { get; init; } = new();

    /// <summary>
    /// An optional second decoder graph with the same ports and KV cache, for calls of more than one position (prompts);
    /// null when <see cref="Decoder"/> runs every call. Optional within format version 2: older folders have none.
    /// </summary>
    [JsonPropertyName("prefill")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ManifestGraph? Prefill { get; init; }

    /// <summary>The token-embedding table.</summary>
    [JsonPropertyName("embeddings")] public ManifestEmbeddings Embeddings { get; init; } = new();

    /// <summary>Tokenizer files in the folder.</summary>
    [JsonPropertyName("tokenizer")] public ManifestTokenizer Tokenizer { get; init; } = new();

    /// <summary>Ids of the tokens the pipeline inserts or stops on.</summary>
    [JsonPropertyName("special_tokens")] public ManifestSpecialTokens SpecialTokens { get; init; } = new();

    internal static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Whether <paramref name="directory"/> holds a manifest (valid or not).</summary>
    public static bool Exists(string directory) => File.Exists(Path.Combine(directory, FileName));

    /// <summary>Reads and checks the manifest of the model folder <paramref name="directory"/>.</summary>
    /// <exception cref="CheckpointException">No manifest, not our format, a newer version, or a file it names is missing.</exception>
    public static ModelManifest Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new CheckpointException(directory, $"not a converted model folder (no {FileName}); run `internvl convert` on the original checkpoint first");
        ModelManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllBytes(path), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, $"not a valid manifest ({e.Message})", e);
        }
        if (manifest is null || manifest.Format != FormatName)
            throw new CheckpointException(path, $"not an InternVit.SK manifest (format '{manifest?.Format}', expected '{FormatName}')");
        if (manifest.FormatVersion != CurrentFormatVersion)
            throw new CheckpointException(path, $"format version {manifest.FormatVersion} is not supported (this library reads version {CurrentFormatVersion}); convert the checkpoint again");
        string[] files = manifest.Prefill is null
            ? [manifest.Vision.File, manifest.Decoder.File, manifest.Embeddings.File]
            : [manifest.Vision.File, manifest.Decoder.File, manifest.Prefill.File, manifest.Embeddings.File];
        foreach (string file in files)
            if (!File.Exists(Path.Combine(directory, file)))
                throw new CheckpointException(directory, $"the manifest names '{file}', which is missing; convert again with --force");
        return manifest;
    }

    internal void Save(string directory) =>
        IO.AtomicFile.WriteAllBytes(Path.Combine(directory, FileName), JsonSerializer.SerializeToUtf8Bytes(this, JsonOptions));
}

/// <summary>Where a model folder came from.</summary>
public sealed record ManifestSource
{
    /// <summary><c>architectures[0]</c> of the checkpoint (InternVLChatModel).</summary>
    [JsonPropertyName("architecture")] public string Architecture { get; init; } = "";
    /// <summary><see cref="Layout"/> of a checkpoint in OpenGVLab's original layout (llm_config, <c>vision_model.*</c>).</summary>
    public const string OriginalLayout = "original";
    /// <summary><see cref="Layout"/> of a checkpoint in the Hugging Face-native layout (text_config, <c>vision_tower.*</c>).</summary>
    public const string HuggingFaceLayout = "huggingface";
    /// <summary>
    /// The checkpoint's layout: <see cref="OriginalLayout"/> or <see cref="HuggingFaceLayout"/> (null in folders converted
    /// before both were read, which were all original).
    /// </summary>
    [JsonPropertyName("layout")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Layout { get; init; }
    /// <summary><c>llm_config.architectures[0]</c> (e.g. Qwen2ForCausalLM).</summary>
    [JsonPropertyName("llm_architecture")] public string LlmArchitecture { get; init; } = "";
    /// <summary>SHA-256 over the lines "name sha256" of <see cref="Files"/>, in order.</summary>
    [JsonPropertyName("sha256")] public string Sha256 { get; init; } = "";
    /// <summary>config.json and the weight files, with size and SHA-256.</summary>
    [JsonPropertyName("files")] public ManifestFile[] Files { get; init; } = [];
}

/// <summary>A source file and its hash.</summary>
public sealed record ManifestFile(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("sha256")] string Sha256);

/// <summary>How images are tiled and normalized for this model.</summary>
public sealed record ManifestImage
{
    /// <summary>Tile side in pixels (448).</summary>
    [JsonPropertyName("image_size")] public int ImageSize { get; init; }
    /// <summary>Patch side in pixels (14).</summary>
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; }
    /// <summary>LLM tokens per tile (256).</summary>
    [JsonPropertyName("tokens_per_tile")] public int TokensPerTile { get; init; }
    /// <summary>Fewest tiles per image.</summary>
    [JsonPropertyName("min_tiles")] public int MinTiles { get; init; }
    /// <summary>Most tiles per image (the checkpoint's default).</summary>
    [JsonPropertyName("max_tiles")] public int MaxTiles { get; init; }
    /// <summary>Whether a thumbnail follows the tiles.</summary>
    [JsonPropertyName("use_thumbnail")] public bool UseThumbnail { get; init; }
    /// <summary>Whether tiling is dynamic.</summary>
    [JsonPropertyName("dynamic_image_size")] public bool DynamicImageSize { get; init; }
    /// <summary>Per-channel mean (ImageNet).</summary>
    [JsonPropertyName("mean")] public float[] Mean { get; init; } = [];
    /// <summary>Per-channel std (ImageNet).</summary>
    [JsonPropertyName("std")] public float[] Std { get; init; } = [];
}

/// <summary>One ONNX graph file and its signature.</summary>
public record ManifestGraph
{
    /// <summary>File name inside the model folder.</summary>
    [JsonPropertyName("file")] public string File { get; init; } = "";
    /// <summary>Inputs in order.</summary>
    [JsonPropertyName("inputs")] public ManifestPort[] Inputs { get; init; } = [];
    /// <summary>Outputs in order.</summary>
    [JsonPropertyName("outputs")] public ManifestPort[] Outputs { get; init; } = [];
}

/// <summary>The decoder graph plus the dimensions the runtime needs for its KV cache.</summary>
public sealed record ManifestDecoder : ManifestGraph
{
    /// <summary>The LLM architecture (e.g. Qwen2ForCausalLM).</summary>
    [JsonPropertyName("architecture")] public string Architecture { get; init; } = "";
    /// <summary>Decoder layers.</summary>
    [JsonPropertyName("layers")] public int Layers { get; init; }
    /// <summary>Width.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    /// <summary>Query heads.</summary>
    [JsonPropertyName("heads")] public int Heads { get; init; }
    /// <summary>Key/value heads.</summary>
    [JsonPropertyName("kv_heads")] public int KeyValueHeads { get; init; }
    /// <summary>Per-head width.</summary>
    [JsonPropertyName("head_dim")] public int HeadDim { get; init; }
    /// <summary>Logit count (vocabulary including added tokens).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    /// <summary>Trained context length.</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; }
    /// <summary>RoPE base.</summary>
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; }
    /// <summary>RMSNorm epsilon.</summary>
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; }
}

/// <summary>An input or output: name, element type and dimensions (numbers, or strings for symbolic dimensions).</summary>
public sealed record ManifestPort(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("shape")] JsonArray Shape);

/// <summary>The token-embedding table file.</summary>
public sealed record ManifestEmbeddings
{
    /// <summary>Safetensors file inside the model folder.</summary>
    [JsonPropertyName("file")] public string File { get; init; } = "";
    /// <summary>Tensor name inside it (the checkpoint key).</summary>
    [JsonPropertyName("tensor")] public string Tensor { get; init; } = "";
    /// <summary>Stored dtype (the checkpoint's: BF16, F16 or F32); rows are widened to float32 on lookup.</summary>
    [JsonPropertyName("dtype")] public string Dtype { get; init; } = "";
    /// <summary>[vocab, hidden].</summary>
    [JsonPropertyName("shape")] public long[] Shape { get; init; } = [];
}

/// <summary>Tokenizer files copied from the checkpoint.</summary>
public sealed record ManifestTokenizer
{
    /// <summary>File names inside the model folder.</summary>
    [JsonPropertyName("files")] public string[] Files { get; init; } = [];
}

/// <summary>Special token ids.</summary>
public sealed record ManifestSpecialTokens
{
    /// <summary><c>&lt;img&gt;</c>.</summary>
    [JsonPropertyName("img_start")] public int ImageStart { get; init; }
    /// <summary><c>&lt;/img&gt;</c>.</summary>
    [JsonPropertyName("img_end")] public int ImageEnd { get; init; }
    /// <summary><c>&lt;IMG_CONTEXT&gt;</c>, whose embedding rows are replaced by image features.</summary>
    [JsonPropertyName("img_context")] public int ImageContext { get; init; }
    /// <summary>End-of-sequence ids from the checkpoint's config.</summary>
    [JsonPropertyName("eos")] public int[] Eos { get; init; } = [];
    /// <summary>Padding id, when the tokenizer names one.</summary>
    [JsonPropertyName("pad")] public int? Pad { get; init; }
}
