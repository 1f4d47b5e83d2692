namespace InternVit.SK.Imaging;

/// <summary>Encoded image formats the decoder reads. The format is always sniffed from the bytes, never from a file name.</summary>
public enum ImageFormat
{
    /// <summary>JPEG (libjpeg-turbo).</summary>
    Jpeg,
    /// <summary>PNG (libpng).</summary>
    Png,
    /// <summary>WebP, lossy or lossless, still images (libwebp).</summary>
    WebP,
}

/// <summary>Recognises a format from the first bytes.</summary>
internal static class ImageFormatSniffer
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static ReadOnlySpan<byte> JpegSignature => [0xFF, 0xD8, 0xFF];

    /// <summary>The format of <paramref name="data"/>, or an <see cref="ImageDecodeException"/> saying why there is none.</summary>
    public static ImageFormat Sniff(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) throw new ImageDecodeException(ImageDecodeError.Empty, "the image is empty (0 bytes)");
        if (data.StartsWith(PngSignature)) return ImageFormat.Png;
        if (data.StartsWith(JpegSignature)) return ImageFormat.Jpeg;
        if (data.Length >= 12 && data[..4].SequenceEqual("RIFF"u8) && data.Slice(8, 4).SequenceEqual("WEBP"u8)) return ImageFormat.WebP;
        if (PngSignature.StartsWith(data) || JpegSignature.StartsWith(data) || (data.Length < 12 && "RIFF"u8.StartsWith(data[..Math.Min(4, data.Length)])))
            throw new ImageDecodeException(ImageDecodeError.Truncated, $"the image ends after {data.Length} byte(s), inside the format signature");
        string? other = Name(data);
        throw new ImageDecodeException(ImageDecodeError.Unsupported, other is null
            ? "not a JPEG, PNG or WebP image (unrecognised signature)"
            : $"{other} images are not supported (only JPEG, PNG and WebP)");
    }

    private static string? Name(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith("GIF8"u8)) return "GIF";
        if (data.StartsWith("BM"u8)) return "BMP";
        if (data.StartsWith("II*\0"u8) || data.StartsWith("MM\0*"u8)) return "TIFF";
        if (data.Length >= 12 && data.Slice(4, 4).SequenceEqual("ftyp"u8)) return "HEIF/AVIF";
        if (data.StartsWith("RIFF"u8)) return "RIFF (non-WebP)";
        return null;
    }
}
