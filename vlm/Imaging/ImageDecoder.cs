using System.Buffers;
using InternVit.SK.Imaging.Codecs;

namespace InternVit.SK.Imaging;

/// <summary>
/// Decodes JPEG, PNG, WebP, GIF (first frame) and BMP into 8-bit RGB the way Pillow's
/// <c>Image.open(f).convert('RGB')</c> does (gray and palette expanded, alpha dropped, 16-bit reduced to the high
/// byte, CMYK converted), with the product choices of <see cref="ImageDecodeOptions"/>. Decoding runs on SkiaSharp
/// (its bundled libjpeg-turbo, libpng, libwebp and its own GIF and BMP readers). The format is sniffed from the bytes.
/// Every failure is an <see cref="ImageDecodeException"/>.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Decodes an encoded image held in memory.</summary>
    public static DecodedImage Decode(ReadOnlySpan<byte> data, ImageDecodeOptions? options = null)
    {
        options ??= ImageDecodeOptions.Default;
        options.Validate();
        if (data.Length > options.MaxEncodedBytes)
            throw new ImageDecodeException(ImageDecodeError.TooLarge, $"the image is {data.Length:N0} bytes, more than the limit of {options.MaxEncodedBytes:N0}");
        return SkiaImageCodec.Decode(data, ImageFormatSniffer.Sniff(data), options);
    }

    /// <summary>The format of an encoded image, from its first bytes (as <see cref="Decode"/> sniffs it).</summary>
    /// <exception cref="ImageDecodeException">Empty, cut inside the signature, or not a JPEG, PNG, WebP, GIF or BMP image.</exception>
    public static ImageFormat DetectFormat(ReadOnlySpan<byte> data) => ImageFormatSniffer.Sniff(data);

    /// <summary>
    /// The MIME type of <paramref name="format"/> (<c>image/jpeg</c>, <c>image/png</c>, <c>image/webp</c>,
    /// <c>image/gif</c>, <c>image/bmp</c>).
    /// </summary>
    public static string MediaType(ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => "image/jpeg",
        ImageFormat.Png => "image/png",
        ImageFormat.WebP => "image/webp",
        ImageFormat.Gif => "image/gif",
        ImageFormat.Bmp => "image/bmp",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not an image format"),
    };

    /// <summary>Decodes an image file; the size limit is checked before the file is read.</summary>
    /// <exception cref="ImageDecodeException">The file is not a decodable image; the message names the file.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static DecodedImage DecodeFile(string path, ImageDecodeOptions? options = null)
    {
        options ??= ImageDecodeOptions.Default;
        options.Validate();
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        long length = stream.Length;
        if (length > options.MaxEncodedBytes)
            throw new ImageDecodeException(ImageDecodeError.TooLarge, $"the file is {length:N0} bytes, more than the limit of {options.MaxEncodedBytes:N0}", path);
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(length, 1));
        try
        {
            stream.ReadExactly(buffer, 0, (int)length);
            return Decode(buffer.AsSpan(0, (int)length), options);
        }
        catch (ImageDecodeException e) when (e.FilePath is null)
        {
            throw e.WithFile(path);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
