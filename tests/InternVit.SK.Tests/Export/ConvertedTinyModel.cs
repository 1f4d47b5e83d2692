using InternVit.SK.Export;
using InternVit.SK.Generation;

namespace InternVit.SK.Tests.Export;

/// <summary>A tiny checkpoint converted once per test run, and opened for inference.</summary>
public abstract class ConvertedCheckpoint : IDisposable
{
    private readonly TempDir _dir = new();

    /// <param name="checkpoint">Which tiny checkpoint: "a" (InternVL2.5, Qwen2) or "c" (InternVL3.5, Qwen3).</param>
    protected ConvertedCheckpoint(string checkpoint)
    {
        Checkpoint = checkpoint;
        Directory = Path.Combine(_dir.Path, "model");
        Result = ModelConverter.ConvertAsync(TestPaths.Checkpoint(checkpoint), Directory).GetAwaiter().GetResult();
        Model = InternVLModel.Open(Directory);
    }

    /// <summary>"a" or "c": names the checkpoint folder and its goldens (goldens/model_a, goldens/model_c).</summary>
    public string Checkpoint { get; }

    public string Directory { get; }

    public ConversionResult Result { get; }

    internal InternVLModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Dispose();
    }
}

/// <summary>Checkpoint A (InternVL2.5 layout, Qwen2 LLM).</summary>
public sealed class ConvertedTinyModel() : ConvertedCheckpoint("a");

/// <summary>Checkpoint C (InternVL3.5 layout, Qwen3 LLM).</summary>
public sealed class ConvertedTinyModelC() : ConvertedCheckpoint("c");

[CollectionDefinition(Name)]
public sealed class ConvertedTinyModelCollection : ICollectionFixture<ConvertedTinyModel>
{
    public const string Name = "converted-tiny";
}

[CollectionDefinition(Name)]
public sealed class ConvertedTinyModelCCollection : ICollectionFixture<ConvertedTinyModelC>
{
    public const string Name = "converted-tiny-c";
}
