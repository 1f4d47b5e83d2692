namespace InternVit.SK.Plugin;

/// <summary>How <see cref="VisionTools"/> reads images and spends tokens.</summary>
public sealed record VisionToolsOptions
{
    /// <summary>Where image arguments may come from (paths, URLs); base64 and data URIs are always accepted up to the size limit.</summary>
    public ImageSourceOptions ImageSources { get; init; } = new();

    /// <summary>Most tokens one tool call generates (default 512).</summary>
    public int MaxOutputTokens { get; init; } = 512;

    /// <summary>Most tiles per image (null: the model's default). <c>describe_image</c> with detail "brief" always uses 1.</summary>
    public int? MaxTiles { get; init; }

    /// <summary>Most pages <c>answer_document_question</c> accepts (default 8).</summary>
    public int MaxPages { get; init; } = 8;

    /// <summary>
    /// Tiles shared by all pages of <c>answer_document_question</c>: each page gets
    /// <c>max(1, min(max tiles, budget / pages))</c>, as the official multi-page DocVQA evaluation does (default 64, its <c>total_max_num</c>).
    /// </summary>
    public int DocumentTileBudget { get; init; } = 64;

    /// <summary>Longest question or phrase accepted, in characters (default 2,000).</summary>
    public int MaxQuestionLength { get; init; } = 2000;

    /// <summary>System prompt of the tools' conversations (null: the model's own).</summary>
    public string? SystemPrompt { get; init; }

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(ImageSources, nameof(ImageSources));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxOutputTokens, 1, nameof(MaxOutputTokens));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPages, 1, nameof(MaxPages));
        ArgumentOutOfRangeException.ThrowIfLessThan(DocumentTileBudget, 1, nameof(DocumentTileBudget));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxQuestionLength, 1, nameof(MaxQuestionLength));
        if (MaxTiles is < 1 or > Imaging.Tiling.TilingOptions.MaxSupportedTiles)
            throw new ArgumentOutOfRangeException(nameof(MaxTiles), MaxTiles, $"max tiles must be between 1 and {Imaging.Tiling.TilingOptions.MaxSupportedTiles}");
    }
}
