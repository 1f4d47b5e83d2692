using System.Text.Json.Nodes;
using InternVit.SK.Export;
using Writer = InternVit.SK.Cli.SyntheticCheckpoint;

namespace InternVit.SK.Tests.Export;

/// <summary>
/// Small InternVL checkpoints in the original layout — the CLI's <see cref="Writer"/> (which writes the bench's
/// random-weight checkpoints) with the tiny checkpoint's tokenizer files — so tests can break one thing at a time: a
/// config field, a tensor's presence or shape.
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
    /// <see cref="BaseConfig"/> with a Qwen3 LLM as InternVL3.5 has it: q/k norms, no attention biases, and an explicit
    /// head_dim (16) that is not hidden_size / heads (16 / 2), so q_proj is 32 wide.
    /// </summary>
    public static JsonObject Qwen3Config()
    {
        var config = BaseConfig();
        var l = config["llm_config"]!.AsObject();
        l["architectures"] = new JsonArray("Qwen3ForCausalLM");
        l["model_type"] = "qwen3";
        l["head_dim"] = 16;
        l["attention_bias"] = false;
        return config;
    }

    /// <summary>Writes the checkpoint and copies the tiny checkpoint's tokenizer files next to it.</summary>
    public static void Write(string directory, JsonObject config, Func<List<ExpectedTensor>, List<ExpectedTensor>>? editTensors = null,
        Func<string, float[], float[]>? editValues = null, int seed = 7)
    {
        Writer.Write(directory, config, seed, editTensors, editValues);
        foreach (string file in (string[])["tokenizer_config.json", "added_tokens.json", "generation_config.json", "vocab.json", "merges.txt"])
            File.Copy(Path.Combine(TestPaths.TinyCheckpoint, file), Path.Combine(directory, file));
    }
}
