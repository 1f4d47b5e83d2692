using System.Text.Json.Nodes;
using InternVit.SK.Checkpoints;
using InternVit.SK.Export;

namespace InternVit.SK.Tests.Export;

/// <summary>
/// Writes small InternVL checkpoints in the original layout (random BF16 weights, the tiny checkpoint's tokenizer
/// config) so tests can break one thing at a time: a config field, a tensor's presence or shape.
/// </summary>
internal static class SyntheticCheckpoint
{
    /// <summary>The tiny checkpoint's config, shrunk further (the vocabulary keeps its size so the special ids stay valid).</summary>
    public static JsonObject BaseConfig()
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.TinyCheckpoint, "config.json")))!.AsObject();
        var v = config["vision_config"]!.AsObject();
        v["hidden_size"] = 16; v["num_attention_heads"] = 2; v["num_hidden_layers"] = 1; v["intermediate_size"] = 32;
        var l = config["llm_config"]!.AsObject();
        l["hidden_size"] = 16; l["num_attention_heads"] = 2; l["num_key_value_heads"] = 1; l["num_hidden_layers"] = 1; l["intermediate_size"] = 32;
        return config;
    }

    /// <summary>
    /// Writes config.json, model.safetensors and tokenizer files into <paramref name="directory"/>. The tensors are the
    /// ones the config implies, passed through <paramref name="editTensors"/> (drop, reshape, add).
    /// </summary>
    public static void Write(string directory, JsonObject config, Func<List<ExpectedTensor>, List<ExpectedTensor>>? editTensors = null,
        Func<string, float[], float[]>? editValues = null, int seed = 7)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString());
        var parsed = InternVLConfig.Load(directory);
        var tensors = new InternVitGraph(parsed).ExpectedWeights().Concat(new Qwen2Graph(parsed.LlmConfig).ExpectedWeights()).ToList();
        if (editTensors is not null) tensors = editTensors(tensors);
        var random = new Random(seed);
        var entries = new List<SafetensorsEntry>();
        foreach (var (name, shape) in tensors)
        {
            long count = 1;
            foreach (long d in shape) count *= d;
            var values = new float[count];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 2 - 1) * 0.5f;
            if (name.EndsWith("ls1", StringComparison.Ordinal) || name.EndsWith("ls2", StringComparison.Ordinal) || name.Contains("norm", StringComparison.Ordinal) || name.StartsWith("mlp1.0", StringComparison.Ordinal))
                for (int i = 0; i < values.Length; i++) values[i] = 1 + values[i] * 0.2f;
            if (editValues is not null) values = editValues(name, values);
            entries.Add(SafetensorsEntry.FromFloat32(name, shape, values, SafetensorsDtype.BF16));
        }
        SafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), entries, new Dictionary<string, string> { ["format"] = "pt" });
        foreach (string file in (string[])["tokenizer_config.json", "added_tokens.json", "generation_config.json", "vocab.json", "merges.txt"])
            File.Copy(Path.Combine(TestPaths.TinyCheckpoint, file), Path.Combine(directory, file));
    }
}
