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
    /// <summary>An LLM shape: Qwen2 (InternVL2.5/3) or Qwen3 (InternVL3.5, explicit head_dim, q/k norms).</summary>
    private sealed record LlmShape(bool Qwen3, int Width, int Layers, int Heads, int KvHeads, int Mlp, int Vocab, bool Tied, int? HeadDim = null);

    /// <summary>
    /// The shapes <see cref="Config"/> knows, each InternViT-300M's encoder (width 1024, 24 layers, 16 heads, MLP 4096)
    /// with the 4096→width projector, or its tiny stand-in, and an LLM (numbers from each LLM's config.json on Hugging Face):
    /// <c>internvl2_5-1b</c> Qwen2-0.5B (width 896, 24 layers, 14 heads, 2 KV heads, MLP 4864, vocab 151674, untied);
    /// <c>internvl3-2b</c> Qwen2.5-1.5B (1536, 28 layers, 12 / 2 heads, MLP 8960, vocab 151674; untied, as InternVL2.5/3's
    /// config class forces and their checkpoints store lm_head); <c>internvl3_5-1b</c> Qwen3-0.6B (1024, 28 layers, 16 / 8
    /// heads, head_dim 128, MLP 3072, vocab 151936, tied); <c>internvl3_5-2b</c> Qwen3-1.7B (2048, 28 layers, 16 / 8
    /// heads, head_dim 128, MLP 6144, vocab 151936, tied); <c>tiny</c> and <c>tiny-qwen3</c> keep the layouts at width 64
    /// and 2 layers (tiny-qwen3 with head_dim 32, as test checkpoint C).
    /// </summary>
    private static readonly Dictionary<string, (bool TinyVision, LlmShape Llm)> ShapeTable = new(StringComparer.Ordinal)
    {
        ["internvl2_5-1b"] = (false, new(false, 896, 24, 14, 2, 4864, 151674, false)),
        ["internvl3-2b"] = (false, new(false, 1536, 28, 12, 2, 8960, 151674, false)),
        ["internvl3_5-1b"] = (false, new(true, 1024, 28, 16, 8, 3072, 151936, true, 128)),
        ["internvl3_5-2b"] = (false, new(true, 2048, 28, 16, 8, 6144, 151936, true, 128)),
        ["tiny"] = (true, new(false, 64, 2, 4, 2, 128, 151674, false)),
        ["tiny-qwen3"] = (true, new(true, 64, 2, 4, 2, 128, 151936, true, 32)),
    };

    /// <summary>Shapes <see cref="Config"/> knows.</summary>
    public static IReadOnlyList<string> Shapes { get; } = [.. ShapeTable.Keys];

    /// <summary>Whether the shape's LLM is Qwen3, whose tokenizer has Qwen3's four extra added tokens before InternVL's.</summary>
    public static bool IsQwen3(string shape) => Shape(shape).Llm.Qwen3;

    private static (bool TinyVision, LlmShape Llm) Shape(string shape) =>
        ShapeTable.TryGetValue(shape, out var found) ? found
            : throw new ArgumentOutOfRangeException(nameof(shape), shape, $"unknown shape; choose one of: {string.Join(", ", Shapes)}");

    /// <summary>The config.json of a shape (see <see cref="ShapeTable"/>).</summary>
    public static JsonObject Config(string shape)
    {
        var (tinyVision, llm) = Shape(shape);
        var (vWidth, vLayers, vHeads, vMlp) = tinyVision ? (64, 2, 4, 128) : (1024, 24, 16, 4096);
        var llmConfig = new JsonObject
        {
            ["architectures"] = new JsonArray(llm.Qwen3 ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM"),
            ["model_type"] = llm.Qwen3 ? "qwen3" : "qwen2",
            ["bos_token_id"] = 151643,
            ["eos_token_id"] = 151645,
            ["hidden_act"] = "silu",
            ["hidden_size"] = llm.Width,
            ["intermediate_size"] = llm.Mlp,
            ["max_position_embeddings"] = llm.Qwen3 ? 40960 : 32768,
            ["num_attention_heads"] = llm.Heads,
            ["num_hidden_layers"] = llm.Layers,
            ["num_key_value_heads"] = llm.KvHeads,
            ["rms_norm_eps"] = 1e-6,
            ["rope_scaling"] = null,
            ["rope_theta"] = 1000000.0,
            ["tie_word_embeddings"] = llm.Tied,
            ["vocab_size"] = llm.Vocab,
        };
        if (llm.Qwen3)
        {
            llmConfig["head_dim"] = llm.HeadDim;
            llmConfig["attention_bias"] = false;
        }
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
            ["llm_config"] = llmConfig,
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
    /// A byte-level tokenizer for benchmark checkpoints: the 256 byte symbols, no merges, and the added tokens at their real
    /// ids, so the converter and the prompt builder work as with the real one: Qwen2's then InternVL's (151643…151673), or,
    /// with <paramref name="qwen3"/>, Qwen3's (up to <c>&lt;/think&gt;</c> 151668, the last four not special) then
    /// InternVL's (151669…151677) as InternVL3.5 has them.
    /// </summary>
    public static void WriteByteLevelTokenizer(string directory, bool qwen3 = false)
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
            .. qwen3 ? (string[])["<tool_response>", "</tool_response>", "<think>", "</think>"] : [],
            "<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>",
        ];
        // Qwen's added tokens from <tool_call> on are not special (skip_special_tokens keeps them); the rest are.
        int firstNotSpecial = Array.IndexOf(specials, "<tool_call>"), firstInternVL = Array.IndexOf(specials, "<img>");
        var added = new JsonObject();
        var decoder = new JsonObject();
        for (int i = 0; i < specials.Length; i++)
        {
            added[specials[i]] = 151643 + i;
            decoder[(151643 + i).ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = specials[i], ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false,
                ["special"] = i < firstNotSpecial || i >= firstInternVL,
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
