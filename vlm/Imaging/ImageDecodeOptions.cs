namespace InternVit.SK.Imaging;

/// <summary>How <see cref="ImageDecoder"/> treats its input: size limits and the two product choices (EXIF, alpha).</summary>
public sealed record ImageDecodeOptions
{
    /// <summary>The defaults: 64 MiB encoded, 100 million pixels, EXIF orientation applied, alpha dropped.</summary>
    public static ImageDecodeOptions Default { get; } = new();

    /// <summary>Largest accepted encoded input, in bytes.</summary>
    public long MaxEncodedBytes { get; init; } = 64L << 20;

    /// <summary>
    /// Largest accepted width × height, checked from the header before any pixel buffer is allocated. Default 100
    /// million pixels (a 200-megapixel phone photo is refused): a decode holds 4 bytes per pixel while it runs, 400 MB at
    /// the limit, and gives it back when the image is disposed; lower it where several large images may decode at once
    /// on a machine of a few GB.
    /// </summary>
    public long MaxPixels { get; init; } = 100_000_000;

    /// <summary>
    /// Turn images upright according to their EXIF Orientation tag (on by default; JPEG, and WebP or PNG files that
    /// carry EXIF). The official InternVL preprocessing ignores the tag; turn this off to reproduce it exactly.
    /// </summary>
    public bool ApplyExifOrientation { get; init; } = true;

    /// <summary>
    /// Composite transparent pixels onto white instead of dropping the alpha channel. Off by default, which is
    /// what the official preprocessing (Pillow's <c>convert('RGB')</c>) does: the colour under alpha 0 is kept.
    /// </summary>
    public bool CompositeAlphaOnWhite { get; init; }

    /// <summary>Upper bound for <see cref="MaxPixels"/>: the largest image whose RGBA scratch buffer fits one array.</summary>
    public const long MaxSupportedPixels = 500_000_000;

    internal void Validate()
    {
        if (MaxEncodedBytes < 1 || MaxEncodedBytes > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(MaxEncodedBytes), MaxEncodedBytes, $"must be between 1 and {int.MaxValue}");
        if (MaxPixels < 1 || MaxPixels > MaxSupportedPixels)
            throw new ArgumentOutOfRangeException(nameof(MaxPixels), MaxPixels, $"must be between 1 and {MaxSupportedPixels}");
    }
}
