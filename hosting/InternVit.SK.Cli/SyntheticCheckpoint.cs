using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using InternVit.SK.Checkpoints;
using InternVit.SK.Export;

namespace InternVit.SK.Cli;

/// <summary>
/// Writes InternVL checkpoints with seeded random weights in the original OpenGVLab layout (config.json,
/// model.safetensors in BF16, a tokenizer), for benchmarks at real shapes (speed depends on shapes, not on weight
/// values) and for tests that break one thing at a time. The tensors are exactly the ones the converter expects for the
/// config (<see cref="ModelConverter.ExpectedTensors"/>); each is generated and streamed on its own, so a 2 GB
/// checkpoint needs little memory.
/// </summary>
internal static class SyntheticCheckpoint
{
    /// <summary>Shapes <see cref="Config"/> knows.</summary>
    public static IReadOnlyList<string> Shapes { get; } = ["internvl2_5-1b", "tiny"];

    /// <summary>
    /// The config.json of a shape: <c>internvl2_5-1b</c> is InternViT-300M (width 1024, 24 layers, 16 heads, MLP 4096),
    /// the 4096→896 projector and Qwen2-0.5B (width 896, 24 layers, 14 heads, 2 KV heads, MLP 4864, vocab 151674);
    /// <c>tiny</c> keeps the layout at width 64 and 2 layers.
    /// </summary>
    public static JsonObject Config(string shape)
    {
        var (vWidth, vLayers, vHeads, vMlp, lWidth, lLayers, lHeads, lKv, lMlp) = shape switch
        {
            "internvl2_5-1b" => (1024, 24, 16, 4096, 896, 24, 14, 2, 4864),
            "tiny" => (64, 2, 4, 128, 64, 2, 4, 2, 128),
            _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, $"unknown shape; choose one of: {string.Join(", ", Shapes)}"),
        };
        return new JsonObject
        {
            ["architectures"] = new JsonArray("InternVLChatModel"),
            ["model_type"] = "internvl_chat",
            ["template"] = "internvl2_5",
            ["downsample_ratio"] = 0.5,
            ["dynamic_image_size"] = true,
            ["force_image_size"] = 448,
            ["max_dynamic_patch"] = 12,
            ["min_dynamic_patch"] = 1,
            ["ps_version"] = "v2",
            ["select_layer"] = -1,
            ["use_thumbnail"] = true,
            ["vision_config"] = new JsonObject
            {
                ["architectures"] = new JsonArray("InternVisionModel"),
                ["model_type"] = "intern_vit_6b",
                ["hidden_act"] = "gelu",
                ["hidden_size"] = vWidth,
                ["image_size"] = 448,
                ["intermediate_size"] = vMlp,
                ["layer_norm_eps"] = 1e-6,
                ["norm_type"] = "layer_norm",
                ["num_attention_heads"] = vHeads,
                ["num_channels"] = 3,
                ["num_hidden_layers"] = vLayers,
                ["patch_size"] = 14,
                ["qk_normalization"] = false,
                ["qkv_bias"] = true,
            },
            ["llm_config"] = new JsonObject
            {
                ["architectures"] = new JsonArray("Qwen2ForCausalLM"),
                ["model_type"] = "qwen2",
                ["bos_token_id"] = 151643,
                ["eos_token_id"] = 151645,
                ["hidden_act"] = "silu",
                ["hidden_size"] = lWidth,
                ["intermediate_size"] = lMlp,
                ["max_position_embeddings"] = 32768,
                ["num_attention_heads"] = lHeads,
                ["num_hidden_layers"] = lLayers,
                ["num_key_value_heads"] = lKv,
                ["rms_norm_eps"] = 1e-6,
                ["rope_scaling"] = null,
                ["rope_theta"] = 1000000.0,
                ["tie_word_embeddings"] = false,
                ["vocab_size"] = 151674,
            },
        };
    }

    /// <summary>
    /// Writes <c>config.json</c> and <c>model.safetensors</c> (BF16) into <paramref name="directory"/>. The tensors are
    /// the ones the config implies, passed through <paramref name="editTensors"/> (drop, reshape, add); values come from
    /// <see cref="RandomValues"/> with <paramref name="seed"/>, then <paramref name="editValues"/>.
    /// </summary>
    public static void Write(string directory, JsonObject config, int seed, Func<List<ExpectedTensor>, List<ExpectedTensor>>? editTensors = null,
        Func<string, float[], float[]>? editValues = null)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(new() { WriteIndented = true }));
        var tensors = ModelConverter.ExpectedTensors(directory).ToList();
        if (editTensors is not null) tensors = editTensors(tensors);
        var random = new Random(seed);
        var entries = tensors.Select(t => new SafetensorsEntry(t.Name, SafetensorsDtype.BF16, t.Shape, stream =>
        {
            float[] values = RandomValues(t.Name, t.Shape, random);
            if (editValues is not null) values = editValues(t.Name, values);
            WriteBFloat16(stream, values);
        })).ToList();
        SafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), entries, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>
    /// Values that keep activations in range at any width: weights uniform in ±1/√fan_in (2-D and conv weights), norm
    /// weights, layer scales and the projector's LayerNorm near 1, everything else uniform in ±0.5.
    /// </summary>
    public static float[] RandomValues(string name, long[] shape, Random random)
    {
        long count = 1;
        foreach (long d in shape) count *= d;
        var values = new float[count];
        bool nearOne = name.EndsWith("ls1", StringComparison.Ordinal) || name.EndsWith("ls2", StringComparison.Ordinal)
            || name.Contains("norm", StringComparison.Ordinal) || name.StartsWith("mlp1.0", StringComparison.Ordinal);
        float scale = 0.5f;
        if (!nearOne && name.EndsWith(".weight", StringComparison.Ordinal) && shape.Length >= 2)
        {
            long fanIn = count / shape[0];
            scale = MathF.Min(0.5f, 1f / MathF.Sqrt(fanIn));
        }
        for (long i = 0; i < values.LongLength; i++)
        {
            float u = (float)(random.NextDouble() * 2 - 1);
            values[i] = nearOne ? 1 + u * 0.1f : u * scale;
        }
        return values;
    }

    /// <summary>
    /// A byte-level tokenizer for benchmark checkpoints: the 256 byte symbols, no merges, and Qwen2's and InternVL's
    /// special tokens at their real ids (151643…151673), so the converter and the prompt builder work as with the real one.
    /// </summary>
    public static void WriteByteLevelTokenizer(string directory)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteSymbol(b)] = b;
        File.WriteAllText(Path.Combine(directory, "vocab.json"), vocab.ToJsonString());
        File.WriteAllText(Path.Combine(directory, "merges.txt"), "#version: 0.2\n");
        string[] specials =
        [
            "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
            "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
            "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
            "<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>",
        ];
        var added = new JsonObject();
        var decoder = new JsonObject();
        for (int i = 0; i < specials.Length; i++)
        {
            added[specials[i]] = 151643 + i;
            decoder[(151643 + i).ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = specials[i], ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false,
                ["special"] = true,
            };
        }
        File.WriteAllText(Path.Combine(directory, "added_tokens.json"), added.ToJsonString());
        var config = new JsonObject
        {
            ["tokenizer_class"] = "Qwen2Tokenizer",
            ["eos_token"] = "<|im_end|>",
            ["pad_token"] = "<|endoftext|>",
            ["added_tokens_decoder"] = decoder,
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), config.ToJsonString());
        File.WriteAllText(Path.Combine(directory, "generation_config.json"), """{"bos_token_id": 151643, "eos_token_id": 151645, "pad_token_id": 151643}""");
    }

    /// <summary>GPT-2's byte → printable-character map used by byte-level BPE vocabularies.</summary>
    private static string ByteSymbol(int b)
    {
        if (b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF) return ((char)b).ToString();
        int n = 0;
        for (int c = 0; c < b; c++)
            if (!(c is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF)) n++;
        return ((char)(256 + n)).ToString();
    }

    private static void WriteBFloat16(Stream stream, float[] values)
    {
        var buffer = new ushort[Math.Min(values.Length, 1 << 20)];
        for (int start = 0; start < values.Length; start += buffer.Length)
        {
            int n = Math.Min(buffer.Length, values.Length - start);
            for (int i = 0; i < n; i++) buffer[i] = ToBFloat16(values[start + i]);
            stream.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
        }
    }

    /// <summary>float32 → bfloat16 bits, rounding to nearest, ties to even (as PyTorch does).</summary>
    private static ushort ToBFloat16(float value)
    {
        if (float.IsNaN(value)) return 0x7FC0;
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + ((bits >> 16) & 1) + 0x7FFF) >> 16);
    }
}
