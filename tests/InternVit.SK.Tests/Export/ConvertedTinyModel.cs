using InternVit.SK.Export;
using InternVit.SK.Generation;

namespace InternVit.SK.Tests.Export;

/// <summary>The tiny checkpoint converted once per test run, and opened for inference.</summary>
public sealed class ConvertedTinyModel : IDisposable
{
    private readonly TempDir _dir = new();

    public ConvertedTinyModel()
    {
        Directory = Path.Combine(_dir.Path, "model");
        Result = ModelConverter.ConvertAsync(TestPaths.TinyCheckpoint, Directory).GetAwaiter().GetResult();
        Model = InternVLModel.Open(Directory);
    }

    public string Directory { get; }

    public ConversionResult Result { get; }

    internal InternVLModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ConvertedTinyModelCollection : ICollectionFixture<ConvertedTinyModel>
{
    public const string Name = "converted-tiny";
}
