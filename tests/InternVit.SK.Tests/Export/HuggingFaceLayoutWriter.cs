using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using InternVit.SK.Checkpoints;

namespace InternVit.SK.Tests.Export;

/// <summary>
/// Rewrites an original-layout checkpoint into the Hugging Face-native layout the way transformers'
/// <c>convert_internvl_weights_to_hf.py</c> does (goldens README section 5), written here independently of the
/// converter's reader: its regex table over the key names in order, the vision qkv split into q/k/v along dim 0, and
/// <c>get_internvl_config</c>'s config (vision_config renamed fields and size pairs, text_config = llm_config,
/// image_token_id = the tokenizer's <c>&lt;IMG_CONTEXT&gt;</c>, tiling limits in preprocessor_config.json). The
/// tokenizer files are copied as they are.
/// </summary>
internal static class HuggingFaceLayoutWriter
{
    /// <summary>transformers' vision and projector renames, applied in this order (attn.proj before the general attn); language_model.* is unchanged.</summary>
    private static readonly (Regex Pattern, string Replacement)[] KeyMapping =
    [
        (new(@"^vision_model\."), "vision_tower."),
        (new(@"\.layers\."), ".layer."),
        (new(@"class_embedding$"), "cls_token"),
        (new(@"position_embedding$"), "position_embeddings"),
        (new(@"patch_embedding\."), "patch_embeddings.projection."),
        (new(@"\.attn\.proj\."), ".attention.projection_layer."),
        (new(@"\.attn\."), ".attention."),
        (new(@"\.norm1\."), ".layernorm_before."),
        (new(@"\.norm2\."), ".layernorm_after."),
        (new(@"\.ls1$"), ".lambda_1"),
        (new(@"\.ls2$"), ".lambda_2"),
        (new(@"^mlp1\.0\."), "multi_modal_projector.layer_norm."),
        (new(@"^mlp1\.1\."), "multi_modal_projector.linear_1."),
        (new(@"^mlp1\.3\."), "multi_modal_projector.linear_2."),
    ];

    public static void Write(string original, string target)
    {
        Directory.CreateDirectory(target);
        foreach (string file in Directory.GetFiles(original))
        {
            string name = Path.GetFileName(file);
            if (name is not ("config.json" or "model.safetensors")) File.Copy(file, Path.Combine(target, name), overwrite: true);
        }
        WriteConfigs(original, target);
        WriteWeights(Path.Combine(original, "model.safetensors"), Path.Combine(target, "model.safetensors"));
    }

    private static void WriteWeights(string source, string destination)
    {
        using var file = SafetensorsFile.Open(source);
        var entries = new List<SafetensorsEntry>();
        foreach (var t in file.Tensors)
        {
            string name = t.Name;
            // The vision table applies to the vision and projector keys only; the language model's keep their names.
            if (!name.StartsWith("language_model.", StringComparison.Ordinal))
                foreach (var (pattern, replacement) in KeyMapping) name = pattern.Replace(name, replacement);
            byte[] bytes = file.GetBytes(t.Name).ToArray();
            if (name.Contains(".attention.qkv.", StringComparison.Ordinal))
            {
                // [3C, ...] → q [C, ...], k, v: rows are contiguous, so each is a third of the bytes.
                long[] shape = (long[])t.Shape.Clone();
                shape[0] /= 3;
                int third = bytes.Length / 3;
                string[] parts = ["q_proj", "k_proj", "v_proj"];
                for (int i = 0; i < 3; i++)
                    entries.Add(SafetensorsEntry.FromBytes(name.Replace(".qkv.", "." + parts[i] + ".", StringComparison.Ordinal), t.Dtype, shape, bytes.AsMemory(i * third, third)));
                continue;
            }
            entries.Add(SafetensorsEntry.FromBytes(name, t.Dtype, t.Shape, bytes));
        }
        SafetensorsWriter.Write(destination, entries);
    }

    private static void WriteConfigs(string original, string target)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(original, "config.json")))!.AsObject();
        var vision = config["vision_config"]!.DeepClone().AsObject();
        var text = config["llm_config"]!.DeepClone().AsObject();
        text.Remove("use_bfloat16");

        foreach (string key in (string[])["use_flash_attn", "drop_path_rate"]) vision.Remove(key);
        vision["use_qk_norm"] = vision["qk_normalization"]!.DeepClone();
        vision["attention_bias"] = vision["qkv_bias"]!.DeepClone();
        vision.Remove("qk_normalization");
        vision.Remove("qkv_bias");
        int imageSize = (int)config["force_image_size"]!, patchSize = (int)vision["patch_size"]!;
        vision["image_size"] = new JsonArray(imageSize, imageSize);
        vision["patch_size"] = new JsonArray(patchSize, patchSize);
        vision["model_type"] = "internvl_vision";
        vision["use_absolute_position_embeddings"] = true;
        vision["use_mean_pooling"] = true;
        vision["use_mask_token"] = false;
        vision["layer_scale_init_value"] = 0.1;

        var addedTokens = JsonNode.Parse(File.ReadAllText(Path.Combine(original, "added_tokens.json")))!.AsObject();
        double ratio = (double)config["downsample_ratio"]!;
        int tokensPerSide = (int)Math.Round(imageSize / patchSize * ratio);
        var hf = new JsonObject
        {
            ["architectures"] = new JsonArray("InternVLForConditionalGeneration"),
            ["downsample_ratio"] = ratio,
            ["image_seq_length"] = tokensPerSide * tokensPerSide,
            ["image_token_id"] = (int)addedTokens["<IMG_CONTEXT>"]!,
            ["model_type"] = "internvl",
            ["projector_hidden_act"] = "gelu",
            ["text_config"] = text,
            ["torch_dtype"] = "bfloat16",
            ["vision_config"] = vision,
            ["vision_feature_layer"] = (int)config["select_layer"]!,
            ["vision_feature_select_strategy"] = "default",
        };
        File.WriteAllText(Path.Combine(target, "config.json"), hf.ToJsonString());

        var preprocessor = new JsonObject
        {
            ["image_processor_type"] = "GotOcr2ImageProcessorFast",
            ["image_mean"] = new JsonArray(0.485, 0.456, 0.406),
            ["image_std"] = new JsonArray(0.229, 0.224, 0.225),
            ["min_patches"] = (int)config["min_dynamic_patch"]!,
            ["max_patches"] = (int)config["max_dynamic_patch"]!,
            ["size"] = new JsonObject { ["height"] = imageSize, ["width"] = imageSize },
        };
        File.WriteAllText(Path.Combine(target, "preprocessor_config.json"), preprocessor.ToJsonString());
    }
}
