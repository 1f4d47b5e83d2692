namespace InternVit.SK.Imaging.Tiling;

/// <summary>Parameters of InternVL's dynamic tiling (<c>dynamic_preprocess</c>).</summary>
public sealed record TilingOptions
{
    /// <summary>The most tiles a grid may have (the official code allows at most 40 here).</summary>
    public const int MaxSupportedTiles = 40;

    /// <summary>
    /// The one range check of a max-tiles value wherever it comes from (options, image inputs, requests, the CLI): throws
    /// unless <paramref name="maxTiles"/> is null or in 1..<see cref="MaxSupportedTiles"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Out of range; the exception names <paramref name="paramName"/>.</exception>
    public static void CheckMaxTiles(int? maxTiles, string paramName)
    {
        if (maxTiles is < 1 or > MaxSupportedTiles)
            throw new ArgumentOutOfRangeException(paramName, maxTiles, $"max tiles must be between 1 and {MaxSupportedTiles}");
    }

    /// <summary>Tile side in pixels: the checkpoint's <c>InternVLConfig.ImageSize</c> (448 for InternVL2.5/3).</summary>
    public int ImageSize { get; init; } = 448;

    /// <summary>Fewest grid tiles (official <c>min_num</c>, default 1).</summary>
    public int MinTiles { get; init; } = 1;

    /// <summary>Most grid tiles, thumbnail not counted (official <c>max_num</c>, default 12, at most 40).</summary>
    public int MaxTiles { get; init; } = 12;

    /// <summary>Append a whole-image thumbnail tile when the grid has more than one tile (official default: yes).</summary>
    public bool UseThumbnail { get; init; } = true;

    internal void Validate()
    {
        if (ImageSize < 1 || ImageSize > 4096) throw new ArgumentOutOfRangeException(nameof(ImageSize), ImageSize, "must be between 1 and 4096");
        if (MinTiles < 1) throw new ArgumentOutOfRangeException(nameof(MinTiles), MinTiles, "must be at least 1");
        if (MaxTiles < MinTiles || MaxTiles > MaxSupportedTiles)
            throw new ArgumentOutOfRangeException(nameof(MaxTiles), MaxTiles, $"must be between MinTiles ({MinTiles}) and {MaxSupportedTiles}");
    }
}
