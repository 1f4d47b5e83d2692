namespace InternVit.SK.Checkpoints;

/// <summary>Parameter count and stored bytes of one part of the model.</summary>
/// <param name="Parameters">Number of weights.</param>
/// <param name="Bytes">Bytes they take in the checkpoint.</param>
/// <param name="Tensors">Number of tensors.</param>
public sealed record ComponentSize(long Parameters, long Bytes, int Tensors);

/// <summary>
/// What an InternVL checkpoint folder holds: its config and the size of each component, counted from the
/// safetensors headers (no weights are read). Components are the key prefixes of the checkpoint's layout (see
/// <see cref="InternVLConfig.Layout"/>): <c>vision_model.</c> / <c>vision_tower.</c> (InternViT), <c>mlp1.</c> /
/// <c>multi_modal_projector.</c> (projector), <c>language_model.</c> / <c>lm_head.</c> (LLM), the Hugging Face-native
/// ones also <c>model.</c>-prefixed.
/// </summary>
public sealed record CheckpointSummary(
    string Directory,
    InternVLConfig Config,
    ComponentSize Vision,
    ComponentSize Projector,
    ComponentSize Llm,
    ComponentSize Other,
    IReadOnlyDictionary<string, long> ParametersByDtype,
    int WeightFiles)
{
    /// <summary>All parameters.</summary>
    public long TotalParameters => Vision.Parameters + Projector.Parameters + Llm.Parameters + Other.Parameters;

    /// <summary>All stored bytes.</summary>
    public long TotalBytes => Vision.Bytes + Projector.Bytes + Llm.Bytes + Other.Bytes;

    /// <summary>Reads config.json and the weight headers of <paramref name="directory"/>.</summary>
    /// <exception cref="CheckpointException">The config or the weights are missing or invalid.</exception>
    public static CheckpointSummary Read(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException(directory, "folder not found");
        var config = InternVLConfig.Load(directory);
        using var weights = SafetensorsCheckpoint.Open(directory);
        var sizes = new (long Parameters, long Bytes, int Tensors)[4];
        var byDtype = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var t in weights.Tensors)
        {
            string name = t.Name.StartsWith("model.", StringComparison.Ordinal) ? t.Name["model.".Length..] : t.Name;
            int component = name.StartsWith("vision_model.", StringComparison.Ordinal) || name.StartsWith("vision_tower.", StringComparison.Ordinal) ? 0
                : name.StartsWith("mlp1.", StringComparison.Ordinal) || name.StartsWith("multi_modal_projector.", StringComparison.Ordinal) ? 1
                : name.StartsWith("language_model.", StringComparison.Ordinal) || t.Name == "lm_head.weight" ? 2
                : 3;
            sizes[component].Parameters += t.ElementCount;
            sizes[component].Bytes += t.ByteLength;
            sizes[component].Tensors++;
            string dtype = SafetensorsDtypes.Name(t.Dtype);
            byDtype[dtype] = byDtype.GetValueOrDefault(dtype) + t.ElementCount;
        }
        ComponentSize Size(int i) => new(sizes[i].Parameters, sizes[i].Bytes, sizes[i].Tensors);
        return new CheckpointSummary(directory, config, Size(0), Size(1), Size(2), Size(3), byDtype, weights.Files.Count);
    }
}
