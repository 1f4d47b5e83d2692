using System.Buffers.Binary;

namespace InternVit.SK.Imaging;

/// <summary>Encoded image formats the decoder reads (through SkiaSharp). The format is always sniffed from the bytes, never from a file name.</summary>
public enum ImageFormat
{
    /// <summary>JPEG: baseline, progressive, gray, and CMYK/YCCK (converted as Pillow converts them).</summary>
    Jpeg,
    /// <summary>PNG: every bit depth and colour type, interlaced or not.</summary>
    Png,
    /// <summary>WebP, lossy or lossless, still images.</summary>
    WebP,
    /// <summary>GIF: the first frame.</summary>
    Gif,
    /// <summary>BMP: 1/4/8-bit palette (RLE too), 16/24/32-bit.</summary>
    Bmp,
}

/// <summary>Recognises a format from the first bytes.</summary>
internal static class ImageFormatSniffer
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static ReadOnlySpan<byte> JpegSignature => [0xFF, 0xD8, 0xFF];

    /// <summary>Bytes of a BMP up to the end of the DIB header's size field: file header (14) + 4.</summary>
    private const int BmpSignatureLength = 18;

    /// <summary>The format of <paramref name="data"/>, or an <see cref="ImageDecodeException"/> saying why there is none.</summary>
    public static ImageFormat Sniff(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) throw new ImageDecodeException(ImageDecodeError.Empty, "the image is empty (0 bytes)");
        if (data.StartsWith(PngSignature)) return ImageFormat.Png;
        if (data.StartsWith(JpegSignature)) return ImageFormat.Jpeg;
        if (data.Length >= 12 && data[..4].SequenceEqual("RIFF"u8) && data.Slice(8, 4).SequenceEqual("WEBP"u8)) return ImageFormat.WebP;
        if (data.StartsWith("GIF87a"u8) || data.StartsWith("GIF89a"u8)) return ImageFormat.Gif;
        if (data.Length >= BmpSignatureLength && data.StartsWith("BM"u8) && IsBmpInfoHeaderSize(BinaryPrimitives.ReadUInt32LittleEndian(data[14..])))
            return ImageFormat.Bmp;
        if (PngSignature.StartsWith(data) || JpegSignature.StartsWith(data)
            || (data.Length < 12 && "RIFF"u8.StartsWith(data[..Math.Min(4, data.Length)]))
            || (data.Length < 6 && ("GIF87a"u8.StartsWith(data) || "GIF89a"u8.StartsWith(data)))
            || (data.Length < BmpSignatureLength && "BM"u8.StartsWith(data[..Math.Min(2, data.Length)])))
            throw new ImageDecodeException(ImageDecodeError.Truncated, $"the image ends after {data.Length} byte(s), inside the format signature");
        string? other = Name(data);
        throw new ImageDecodeException(ImageDecodeError.Unsupported, other is null
            ? "not a JPEG, PNG, WebP, GIF or BMP image (unrecognised signature)"
            : $"{other} images are not supported (only JPEG, PNG, WebP, GIF and BMP)");
    }

    /// <summary>The sizes of the DIB headers Windows and OS/2 BMPs use (core, info, V2, V3, OS/2 2.x, V4, V5).</summary>
    private static bool IsBmpInfoHeaderSize(uint size) => size is 12 or 16 or 40 or 52 or 56 or 64 or 108 or 124;

    private static string? Name(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith("II*\0"u8) || data.StartsWith("MM\0*"u8)) return "TIFF";
        if (data.Length >= 12 && data.Slice(4, 4).SequenceEqual("ftyp"u8)) return "HEIF/AVIF";
        if (data.StartsWith("RIFF"u8)) return "RIFF (non-WebP)";
        if (data.StartsWith((ReadOnlySpan<byte>)[0, 0, 1, 0])) return "ICO";
        if (data.StartsWith("8BPS"u8)) return "PSD";
        if (data.StartsWith("%PDF"u8)) return "PDF";
        return null;
    }
}
