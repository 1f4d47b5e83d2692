using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Checkpoints;

namespace InternVit.SK.Cli;

/// <summary><c>internvl info MODEL_DIR [--json]</c>: architecture summary and parameter counts of a checkpoint.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = new Argument<DirectoryInfo>("MODEL_DIR") { Description = "An InternVL checkpoint folder (config.json + safetensors), in the original or the Hugging Face-native layout." };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of text." };
        var command = new Command("info", "Show a checkpoint's architecture and parameter counts.") { model, json };
        command.SetAction(parse =>
        {
            var summary = CheckpointSummary.Read(parse.GetRequiredValue(model).FullName);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(ToJson(summary).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else WriteText(summary, output);
            return 0;
        });
        return command;
    }

    internal static JsonObject ToJson(CheckpointSummary s)
    {
        var c = s.Config;
        var v = c.VisionConfig;
        var l = c.LlmConfig;
        static JsonObject Size(ComponentSize size) => new() { ["parameters"] = size.Parameters, ["bytes"] = size.Bytes, ["tensors"] = size.Tensors };
        var dtypes = new JsonObject();
        foreach (var (dtype, count) in s.ParametersByDtype) dtypes[dtype] = count;
        return new JsonObject
        {
            ["path"] = s.Directory,
            ["architecture"] = c.Architectures.FirstOrDefault(),
            ["family"] = Family(l),
            ["layout"] = LayoutName(c.Layout),
            ["template"] = c.Template,
            ["vision"] = new JsonObject
            {
                ["architecture"] = v.Architectures.FirstOrDefault(),
                ["model_type"] = v.ModelType,
                ["layers"] = v.NumHiddenLayers,
                ["hidden_size"] = v.HiddenSize,
                ["heads"] = v.NumAttentionHeads,
                ["head_dim"] = v.HeadDim,
                ["intermediate_size"] = v.IntermediateSize,
                ["norm_type"] = v.NormType,
                ["qk_normalization"] = v.QkNormalization,
                ["image_size"] = c.ImageSize,
                ["patch_size"] = v.PatchSize,
                ["select_layer"] = c.SelectLayer,
            },
            ["projector"] = new JsonObject
            {
                ["ps_version"] = c.PsVersion,
                ["downsample_ratio"] = c.DownsampleRatio,
                ["input_size"] = c.ProjectorInputSize,
                ["output_size"] = l.HiddenSize,
                ["tokens_per_tile"] = c.TokensPerTile,
            },
            ["llm"] = new JsonObject
            {
                ["architecture"] = l.Architectures.FirstOrDefault(),
                ["model_type"] = l.ModelType,
                ["layers"] = l.NumHiddenLayers,
                ["hidden_size"] = l.HiddenSize,
                ["heads"] = l.NumAttentionHeads,
                ["kv_heads"] = l.KeyValueHeads,
                ["head_dim"] = l.HeadDim,
                ["intermediate_size"] = l.IntermediateSize,
                ["vocab_size"] = l.VocabSize,
                ["rope_theta"] = l.RopeTheta,
                ["rms_norm_eps"] = l.RmsNormEps,
                ["max_position_embeddings"] = l.MaxPositionEmbeddings,
                ["tie_word_embeddings"] = l.TieWordEmbeddings,
            },
            ["tiling"] = new JsonObject
            {
                ["dynamic_image_size"] = c.DynamicImageSize,
                ["min_tiles"] = c.MinDynamicPatch,
                ["max_tiles"] = c.MaxDynamicPatch,
                ["use_thumbnail"] = c.UseThumbnail,
            },
            ["parameters"] = new JsonObject
            {
                ["vision"] = Size(s.Vision),
                ["projector"] = Size(s.Projector),
                ["llm"] = Size(s.Llm),
                ["other"] = Size(s.Other),
                ["total"] = s.TotalParameters,
                ["total_bytes"] = s.TotalBytes,
                ["by_dtype"] = dtypes,
                ["files"] = s.WeightFiles,
            },
        };
    }

    private static void WriteText(CheckpointSummary s, TextWriter o)
    {
        var c = s.Config;
        var v = c.VisionConfig;
        var l = c.LlmConfig;
        string YesNo(bool b) => b ? "yes" : "no";
        o.WriteLine($"InternVL checkpoint  {s.Directory}");
        o.WriteLine($"  architecture       {c.Architectures.FirstOrDefault()}, template {c.Template ?? "(none)"}");
        o.WriteLine($"  family             {Family(l)}");
        o.WriteLine($"  layout             {LayoutDescription(c.Layout)}");
        o.WriteLine($"  vision             {v.Architectures.FirstOrDefault() ?? "InternViT"} ({v.ModelType}): {v.NumHiddenLayers} layers, width {v.HiddenSize}, " +
                    $"{v.NumAttentionHeads} heads (dim {v.HeadDim}), MLP {v.IntermediateSize}, norm {v.NormType}, qk-norm {YesNo(v.QkNormalization)}, " +
                    $"tile {c.ImageSize}px / patch {v.PatchSize}, select_layer {c.SelectLayer}");
        o.WriteLine($"  projector          pixel shuffle {c.PsVersion} x{c.DownsampleRatio.ToString(CultureInfo.InvariantCulture)} -> {c.TokensPerTile} tokens per tile; " +
                    $"mlp1: LayerNorm({c.ProjectorInputSize}) -> Linear({c.ProjectorInputSize}->{l.HiddenSize}) -> GELU -> Linear({l.HiddenSize}->{l.HiddenSize})");
        o.WriteLine($"  llm                {l.Architectures.FirstOrDefault()} ({l.ModelType}): {l.NumHiddenLayers} layers, width {l.HiddenSize}, {l.NumAttentionHeads} heads, " +
                    $"{l.KeyValueHeads} kv heads (dim {l.HeadDim}), MLP {l.IntermediateSize}, vocab {l.VocabSize}, rope theta {l.RopeTheta.ToString(CultureInfo.InvariantCulture)}, " +
                    $"tied embeddings {YesNo(l.TieWordEmbeddings)}");
        o.WriteLine($"  tiling             {(c.DynamicImageSize ? "dynamic" : "fixed")}, {c.MinDynamicPatch}..{c.MaxDynamicPatch} tiles, thumbnail {YesNo(c.UseThumbnail)}");
        o.WriteLine("  parameters");
        void Row(string name, ComponentSize size) =>
            o.WriteLine($"    {name,-16} {size.Parameters,15:N0}  ({size.Tensors} tensors, {FormatBytes(size.Bytes)})");
        Row("vision", s.Vision);
        Row("projector", s.Projector);
        Row("llm", s.Llm);
        if (s.Other.Tensors > 0) Row("other", s.Other);
        o.WriteLine($"    {"total",-16} {s.TotalParameters,15:N0}  ({FormatBytes(s.TotalBytes)} in {s.WeightFiles} file(s); " +
                    string.Join(", ", s.ParametersByDtype.Select(kv => $"{kv.Key} {kv.Value:N0}")) + ")");
    }

    /// <summary>The layout as the JSON output names it (the manifest's source.layout uses the same words).</summary>
    private static string LayoutName(CheckpointLayout layout) => layout == CheckpointLayout.HuggingFace ? "huggingface" : "original";

    private static string LayoutDescription(CheckpointLayout layout) => layout == CheckpointLayout.HuggingFace
        ? "Hugging Face-native (InternVLForConditionalGeneration: text_config, vision_tower.*, multi_modal_projector.*)"
        : "original OpenGVLab (InternVLChatModel: llm_config, vision_model.*, mlp1.*)";

    /// <summary>The InternVL generation, told by its LLM: Qwen2/Qwen2.5 in InternVL2.5 and 3, Qwen3 in InternVL3.5.</summary>
    internal static string Family(LlmConfig l) => l.Architectures.FirstOrDefault() switch
    {
        "Qwen2ForCausalLM" => "InternVL2.5 / InternVL3 (Qwen2 LLM)",
        "Qwen3ForCausalLM" => "InternVL3.5 (Qwen3 LLM)",
        var other => $"unknown ({other ?? "no"} LLM)",
    };

    internal static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };
}
