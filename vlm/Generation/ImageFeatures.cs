using InternVit.SK.Imaging.Tiling;

namespace InternVit.SK.Generation;

/// <summary>
/// What the vision encoder makes of one image (<see cref="InternVLModel.EncodeImageAsync"/>): the tile grid dynamic
/// tiling chose, and the projected features, one row of <see cref="HiddenSize"/> floats per image token — the rows
/// that fill the image's <c>&lt;IMG_CONTEXT&gt;</c> positions in a prompt.
/// </summary>
public sealed class ImageFeatures
{
    internal ImageFeatures(TileGrid grid, int tokensPerTile, int hiddenSize, float[] values)
    {
        if (values.Length != grid.TileCount * tokensPerTile * hiddenSize)
            throw new ArgumentException($"{grid.TileCount} tiles of {tokensPerTile} x {hiddenSize} features are not {values.Length} values", nameof(values));
        Grid = grid;
        TokensPerTile = tokensPerTile;
        HiddenSize = hiddenSize;
        Values = values;
    }

    /// <summary>The tiles the image was cut into: the grid, then the thumbnail when there is one.</summary>
    public TileGrid Grid { get; }

    /// <summary>Feature rows per tile (image tokens per tile, 256 for InternVL's 448-pixel tiles).</summary>
    public int TokensPerTile { get; }

    /// <summary>Width of a feature row: the language model's hidden size.</summary>
    public int HiddenSize { get; }

    /// <summary>Image tokens in all: <c>Grid.TileCount * TokensPerTile</c>.</summary>
    public int TokenCount => Grid.TileCount * TokensPerTile;

    /// <summary>
    /// The identity of these features (<see cref="ImageFeatureCache.KeyOf"/>: the image's content and every setting that
    /// changes them), when the model's caches are on: the image-feature cache's key and, in a prompt, what tells two
    /// images' <c>&lt;IMG_CONTEXT&gt;</c> positions apart for prefix reuse.
    /// </summary>
    internal UInt128? CacheKey { get; init; }

    /// <summary>The features, [<c>Grid.TileCount</c>, <see cref="TokensPerTile"/>, <see cref="HiddenSize"/>] float32, row-major, tiles in grid order (thumbnail last).</summary>
    public ReadOnlyMemory<float> Values { get; }
}
