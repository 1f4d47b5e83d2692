using InternVit.SK.Export;
using InternVit.SK.Generation;

namespace InternVit.SK.Tests.Export;

/// <summary>A tiny checkpoint converted once per test run, and opened for inference.</summary>
public abstract class ConvertedCheckpoint : IDisposable
{
    private readonly TempDir _dir = new();

    /// <param name="checkpoint">
    /// Which tiny checkpoint: "a" (InternVL2.5, Qwen2) or "c" (InternVL3.5, Qwen3), converted with the converter; "a-hf" or
    /// "c-hf", the same in the Hugging Face-native layout, loaded the way users load a checkpoint
    /// (<see cref="InternVLModel.LoadAsync"/>, which converts it into a cache folder, here a temp one).
    /// </param>
    protected ConvertedCheckpoint(string checkpoint)
    {
        Checkpoint = checkpoint;
        if (checkpoint.EndsWith("-hf", StringComparison.Ordinal))
        {
            Model = InternVLModel.LoadAsync(TestPaths.Checkpoint(checkpoint), new InternVLModelOptions { CacheDirectory = _dir.Path }).GetAwaiter().GetResult();
            Directory = Model.Directory;
            return;
        }
        Directory = Path.Combine(_dir.Path, "model");
        ModelConverter.ConvertAsync(TestPaths.Checkpoint(checkpoint), Directory).GetAwaiter().GetResult();
        Model = InternVLModel.Open(Directory);
    }

    /// <summary>"a", "c", "a-hf" or "c-hf": names the checkpoint folder (<see cref="TestPaths.Checkpoint"/>) and its goldens (goldens/model_a, goldens/model_c).</summary>
    public string Checkpoint { get; }

    public string Directory { get; }

    internal InternVLModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Checkpoint A (InternVL2.5 layout, Qwen2 LLM).</summary>
public sealed class ConvertedTinyModel() : ConvertedCheckpoint("a");

/// <summary>Checkpoint C (InternVL3.5 layout, Qwen3 LLM).</summary>
public sealed class ConvertedTinyModelC() : ConvertedCheckpoint("c");

/// <summary>Checkpoint A in the Hugging Face-native layout (tests/fixtures/internvl-tiny-a-hf).</summary>
public sealed class ConvertedTinyHfModel() : ConvertedCheckpoint("a-hf");

/// <summary>Checkpoint C rewritten into the Hugging Face-native layout (<see cref="HuggingFaceLayoutWriter"/>).</summary>
public sealed class ConvertedTinyHfModelC() : ConvertedCheckpoint("c-hf");

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

[CollectionDefinition(Name)]
public sealed class ConvertedTinyHfModelCollection : ICollectionFixture<ConvertedTinyHfModel>
{
    public const string Name = "converted-tiny-hf";
}

[CollectionDefinition(Name)]
public sealed class ConvertedTinyHfModelCCollection : ICollectionFixture<ConvertedTinyHfModelC>
{
    public const string Name = "converted-tiny-c-hf";
}
