using InternVit.SK.ModelFolder;
using InternVit.SK.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace InternVit.SK.Generation;

/// <summary>The vision graph of a converted model: normalized tiles [N, 3, S, S] → image features [N, tokens_per_tile, hidden].</summary>
internal sealed class VisionEncoder : IDisposable
{
    private static readonly string[] InputNames = [VisionPorts.PixelValues];
    private static readonly string[] OutputNames = [VisionPorts.ImageFeatures];
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
    /// Most tiles one run of the graph takes. Every tile in a run adds its activations (at the InternViT-300M shape the
    /// MLP's [1025, 4096] products, q/k/v and MultiHeadAttention's per-head copies of them; its CPU kernel runs blocked
    /// flash attention, so no [heads, tokens, tokens] matrix is held), so a 12 + 1 tile page in one run peaked at ~2 GB
    /// with int4 weights of 870 MiB; tiles run in batches of this size instead, each giving its memory back. At the 1B shape (int4, 8 tiles) the peak went from
    /// 1606 to 1079 MiB (1033 with batches of 1), and a tile took the same time in batches of 1, 2 or 8 within the noise.
    /// </summary>
    internal const int TilesPerRun = 2;

    /// <summary>
    /// Encodes <paramref name="tiles"/> tiles of <paramref name="pixelValues"/> (NCHW float32, normalized) into
    /// <paramref name="features"/> ([tiles, TokensPerTile, HiddenSize]), in batches of <see cref="TilesPerRun"/>,
    /// without copying either buffer.
    /// </summary>
    public void Encode(ReadOnlyMemory<float> pixelValues, int tiles, Memory<float> features, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tiles, 1);
        if (pixelValues.Length != tiles * PixelValuesPerTile)
            throw new ArgumentException($"{tiles} tiles need {tiles * PixelValuesPerTile} pixel values, got {pixelValues.Length}", nameof(pixelValues));
        if (features.Length != tiles * FeaturesPerTile)
            throw new ArgumentException($"{tiles} tiles give {tiles * FeaturesPerTile} feature values, the destination holds {features.Length}", nameof(features));
        for (int first = 0; first < tiles; first += TilesPerRun)
        {
            int count = Math.Min(TilesPerRun, tiles - first);
            var pixels = pixelValues.Slice(first * PixelValuesPerTile, count * PixelValuesPerTile);
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                System.Runtime.InteropServices.MemoryMarshal.AsMemory(pixels), [count, 3, ImageSize, ImageSize]);
            using var output = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                features.Slice(first * FeaturesPerTile, count * FeaturesPerTile), [count, TokensPerTile, HiddenSize]);
            _session.Run(InputNames, [input], OutputNames, [output], releaseScratch: true, cancellationToken);
        }
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
