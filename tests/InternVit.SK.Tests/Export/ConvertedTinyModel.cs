using InternVit.SK.Export;
using InternVit.SK.Generation;

namespace InternVit.SK.Tests.Export;

/// <summary>The tiny checkpoint converted once per test run, and opened for inference.</summary>
public class ConvertedTinyModel : IDisposable
{
    private readonly TempDir _dir = new();

    public ConvertedTinyModel()
    {
        Directory = Path.Combine(_dir.Path, "model");
        ModelConverter.ConvertAsync(TestPaths.TinyCheckpoint, Directory).GetAwaiter().GetResult();
        Model = InternVLModel.Open(Directory);
    }

    /// <summary>
    /// <paramref name="checkpoint"/> loaded the way users load a checkpoint, <see cref="InternVLModel.LoadAsync"/>, which
    /// converts it into a cache folder (here a temp one).
    /// </summary>
    protected ConvertedTinyModel(string checkpoint)
    {
        Model = InternVLModel.LoadAsync(checkpoint, new InternVLModelOptions { CacheDirectory = _dir.Path }).GetAwaiter().GetResult();
        Directory = Model.Directory;
    }

    /// <summary>The checkpoint folder it was converted from.</summary>
    public virtual string Checkpoint => TestPaths.TinyCheckpoint;

    public string Directory { get; }

    internal InternVLModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Checkpoint A in the Hugging Face-native layout (internvl-tiny-a-hf), loaded through InternVLModel.LoadAsync.</summary>
public sealed class ConvertedTinyHfModel() : ConvertedTinyModel(TestPaths.TinyHfCheckpoint)
{
    public override string Checkpoint => TestPaths.TinyHfCheckpoint;
}

[CollectionDefinition(Name)]
public sealed class ConvertedTinyModelCollection : ICollectionFixture<ConvertedTinyModel>
{
    public const string Name = "converted-tiny";
}

[CollectionDefinition(Name)]
public sealed class ConvertedTinyHfModelCollection : ICollectionFixture<ConvertedTinyHfModel>
{
    public const string Name = "converted-tiny-hf";
}
