using InternVit.SK.Export;
using InternVit.SK.Onnx;

namespace InternVit.SK.Generation;

/// <summary>The vision graph of a converted model: normalized tiles [N, 3, S, S] → image features [N, tokens_per_tile, hidden].</summary>
internal sealed class VisionEncoder : IDisposable
{
    private readonly OrtSession _session;

    internal VisionEncoder(OrtSession session, ModelManifest manifest)
    {
        _session = session;
        ImageSize = manifest.Image.ImageSize;
        TokensPerTile = manifest.Image.TokensPerTile;
        HiddenSize = manifest.Decoder.HiddenSize;
    }

    /// <summary>The vision graph's session (for profiling).</summary>
    internal OrtSession Session => _session;

    /// <summary>Tile side in pixels.</summary>
    public int ImageSize { get; }

    /// <summary>Feature rows per tile.</summary>
    public int TokensPerTile { get; }

    /// <summary>Width of a feature row (the LLM's hidden size).</summary>
    public int HiddenSize { get; }

    /// <summary>Floats one tile of pixel values holds (3 · S · S).</summary>
    public int PixelValuesPerTile => 3 * ImageSize * ImageSize;

    /// <summary>Floats one tile's features hold.</summary>
    public int FeaturesPerTile => TokensPerTile * HiddenSize;

    /// <summary>
    /// Encodes <paramref name="tiles"/> tiles of <paramref name="pixelValues"/> (NCHW float32, normalized) into
    /// <paramref name="features"/> ([tiles, TokensPerTile, HiddenSize]), without copying either buffer.
    /// </summary>
    public void Encode(ReadOnlyMemory<float> pixelValues, int tiles, Memory<float> features, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tiles, 1);
        if (pixelValues.Length != tiles * PixelValuesPerTile)
            throw new ArgumentException($"{tiles} tiles need {tiles * PixelValuesPerTile} pixel values, got {pixelValues.Length}", nameof(pixelValues));
        if (features.Length != tiles * FeaturesPerTile)
            throw new ArgumentException($"{tiles} tiles give {tiles * FeaturesPerTile} feature values, the destination holds {features.Length}", nameof(features));
        using var input = OrtTensor.FromMemory(System.Runtime.InteropServices.MemoryMarshal.AsMemory(pixelValues), [tiles, 3, ImageSize, ImageSize]);
        using var output = OrtTensor.FromMemory(features, [tiles, TokensPerTile, HiddenSize]);
        _session.Run([(InternVitGraph.PixelValues, input)], [(InternVitGraph.ImageFeatures, output)], releaseScratch: true, cancellationToken);
    }

    /// <summary>Encodes into a new array.</summary>
    public float[] Encode(ReadOnlyMemory<float> pixelValues, int tiles, CancellationToken cancellationToken = default)
    {
        var features = new float[tiles * FeaturesPerTile];
        Encode(pixelValues, tiles, features, cancellationToken);
        return features;
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
