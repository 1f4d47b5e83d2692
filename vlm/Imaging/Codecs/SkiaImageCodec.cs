using SkiaSharp;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>
/// Decodes every supported format through SkiaSharp's <see cref="SKCodec"/>, so that the result equals Pillow's
/// <c>Image.open(f).convert('RGB')</c>:
/// <list type="number">
/// <item>The codec reads only the header first; its size is checked against the limits before any pixel buffer exists.</item>
/// <item>Pixels are decoded straight into the image's pooled buffer as RGBA, unpremultiplied and with no destination
/// colour space (an sRGB one would apply ICC profiles and gAMA, which Pillow ignores; premultiplying would destroy the
/// colour under alpha that <c>convert('RGB')</c> keeps), then narrowed to RGB in place.</item>
/// <item>Where Skia's pixels differ from Pillow's, the difference is corrected from the file's own headers: a GIF's
/// transparent index and the area outside its first frame (<see cref="GifFirstFrame"/>), a BMP's RLE-skipped pixels and
/// 16-bit samples (<see cref="BmpHeader"/>).</item>
/// <item>A cut-off file is reported as truncated even where Skia fills the rest in (a progressive JPEG): the container
/// structure is walked to its end marker.</item>
/// </list>
/// The EXIF orientation Skia reports (<see cref="SKCodec.EncodedOrigin"/>) is applied afterwards unless the options say not to.
/// </summary>
internal static unsafe class SkiaImageCodec
{
    public static DecodedImage Decode(ReadOnlySpan<byte> data, ImageFormat format, ImageDecodeOptions options)
    {
        if (format == ImageFormat.WebP && WebPRiff.IsAnimated(data))
            throw new ImageDecodeException(ImageDecodeError.Unsupported, "animated WebP images are not supported");
        fixed (byte* encoded = data)
        {
            // SKData over the caller's bytes (no copy); the codec, which owns the stream, is disposed before they are unpinned.
            using var skData = SKData.Create((nint)encoded, data.Length);
            using var codec = SKCodec.Create(new SKMemoryStream(skData), out var created);
            if (codec is null) throw HeaderFailure(data, format, created, options);

            var info = codec.Info;
            DecodeLimits.CheckSize(info.Width, info.Height, options, format);
            if (format == ImageFormat.WebP && codec.FrameCount > 1)
                throw new ImageDecodeException(ImageDecodeError.Unsupported, "animated WebP images are not supported");

            int width = info.Width, height = info.Height, pixels = width * height;
            var image = DecodedImage.Allocate(width, height, format, bytesPerPixel: 4);
            try
            {
                var rgba = image.Workspace(checked(pixels * 4));
                SKCodecResult result;
                fixed (byte* destination = rgba)
                {
                    var target = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul, null);
                    result = format == ImageFormat.Jpeg && height >= TwoBandRows && !JpegMarkers.IsProgressive(data)
                        ? DecodeJpegInTwoBands(codec, skData, target, (nint)destination)
                        : codec.GetPixels(target, (nint)destination, width * 4, new SKCodecOptions(0));
                }
                CheckPixels(data, format, result);

                bool hasAlpha = info.AlphaType != SKAlphaType.Opaque;
                if (format == ImageFormat.Gif && hasAlpha) FillTransparentFromPalette(data, rgba);
                else if (format == ImageFormat.Bmp) MatchPillowBmp(data, rgba, hasAlpha);
                RgbaToRgb.NarrowInPlace(rgba, pixels, options.CompositeAlphaOnWhite && hasAlpha);

                var origin = codec.EncodedOrigin;
                if (!options.ApplyExifOrientation || origin is SKEncodedOrigin.TopLeft || (int)origin is < 1 or > 8) return image;
                var upright = ExifOrientation.Apply(image, (int)origin);
                image.Dispose();
                return upright;
            }
            catch
            {
                image.Dispose();
                throw;
            }
        }
    }

    /// <summary>Baseline JPEGs of at least this many rows decode in two bands of rows on two threads.</summary>
    internal const int TwoBandRows = 512;

    /// <summary>
    /// A baseline JPEG in two bands of rows at once: this codec decodes the top half while a second codec over the same
    /// bytes skips the top half (entropy decoding only, libjpeg-turbo's jpeg_skip_scanlines) and decodes the bottom.
    /// The pixels are those of one pass (libjpeg-turbo keeps the upsampling context across the skip; tested against a
    /// single pass for every subsampling). SkiaSharp's bundled libjpeg-turbo has no SIMD code, so the IDCT, upsampling
    /// and colour conversion the bands share dominate a decode: a 4000×3000 photo took 121 ms of CPU in one pass.
    /// </summary>
    internal static SKCodecResult DecodeJpegInTwoBands(SKCodec codec, SKData data, SKImageInfo target, nint destination)
    {
        int rowBytes = target.Width * 4, top = target.Height / 2;
        var bottom = Task.Run(() =>
        {
            using var second = SKCodec.Create(new SKMemoryStream(data));
            if (second is null) return SKCodecResult.InvalidInput;
            return DecodeRows(second, target, destination, top, target.Height - top, rowBytes);
        });
        var first = DecodeRows(codec, target, destination, 0, top, rowBytes);
        var last = bottom.GetAwaiter().GetResult();
        return first != SKCodecResult.Success ? first : last;
    }

    private static SKCodecResult DecodeRows(SKCodec codec, SKImageInfo target, nint destination, int firstRow, int rows, int rowBytes)
    {
        var started = codec.StartScanlineDecode(target);
        if (started != SKCodecResult.Success) return started;
        if (firstRow > 0 && !codec.SkipScanlines(firstRow)) return SKCodecResult.IncompleteInput;
        int decoded = codec.GetScanlines(destination + (nint)firstRow * rowBytes, rows, rowBytes);
        return decoded == rows ? SKCodecResult.Success : SKCodecResult.IncompleteInput;
    }

    /// <summary>
    /// Pillow's GIF frame 0 is a palette image: a transparent pixel keeps the colour of the transparent index, and the
    /// area outside the frame is that index too (or index 0 when there is none). Skia leaves both (0, 0, 0, 0). The
    /// alpha stays 0 for transparent pixels (for compositing) and becomes 255 where Pillow's pixel is opaque.
    /// </summary>
    private static void FillTransparentFromPalette(ReadOnlySpan<byte> gif, Span<byte> rgba)
    {
        var frame = GifFirstFrame.Read(gif);
        int index = frame.TransparentIndex >= 0 ? frame.TransparentIndex : 0;
        var (r, g, b) = frame.Colour(gif, index);
        byte alpha = frame.TransparentIndex >= 0 ? (byte)0 : (byte)255;
        FillZeroAlpha(rgba, r, g, b, alpha);
    }

    private static void MatchPillowBmp(ReadOnlySpan<byte> bmp, Span<byte> rgba, bool hasAlpha)
    {
        var header = BmpHeader.Read(bmp);
        if (header.IsRunLength && hasAlpha)
        {
            // Pixels an RLE stream skips (early end of line) are palette index 0 in Pillow, transparent in Skia.
            var (r, g, b) = header.FirstPaletteEntry(bmp);
            FillZeroAlpha(rgba, r, g, b, 255);
        }
        else if (header.Is16Bit)
        {
            Rescale16Bit(rgba, header.Masks);
        }
    }

    private static void FillZeroAlpha(Span<byte> rgba, byte r, byte g, byte b, byte alpha)
    {
        for (int s = 3; s < rgba.Length; s += 4)
        {
            if (rgba[s] != 0) continue;
            rgba[s - 3] = r;
            rgba[s - 2] = g;
            rgba[s - 1] = b;
            rgba[s] = alpha;
        }
    }

    /// <summary>
    /// A 16-bit BMP stores 5- or 6-bit samples. Skia widens them to 8 bits with rounding; Pillow's unpackers
    /// (<c>BGR;15</c>, <c>BGR;16</c>) truncate, <c>v * 255 / 31</c>. Skia's value gives back the sample exactly
    /// (round(v8 * 31 / 255)), from which Pillow's value follows. Only the two layouts Pillow reads are changed.
    /// </summary>
    private static void Rescale16Bit(Span<byte> rgba, (uint R, uint G, uint B) masks)
    {
        int greenBits;
        if (masks is (0x7C00, 0x3E0, 0x1F)) greenBits = 5;
        else if (masks is (0xF800, 0x7E0, 0x1F)) greenBits = 6;
        else return;
        Span<byte> five = stackalloc byte[256], green = stackalloc byte[256];
        FillWideningTable(five, 5);
        FillWideningTable(green, greenBits);
        for (int s = 0; s < rgba.Length; s += 4)
        {
            rgba[s] = five[rgba[s]];
            rgba[s + 1] = green[rgba[s + 1]];
            rgba[s + 2] = five[rgba[s + 2]];
        }
    }

    private static void FillWideningTable(Span<byte> table, int bits)
    {
        int max = (1 << bits) - 1;
        for (int v = 0; v < 256; v++)
        {
            int sample = (v * max + 127) / 255;
            table[v] = (byte)(sample * 255 / max);
        }
    }

    private static ImageDecodeException HeaderFailure(ReadOnlySpan<byte> data, ImageFormat format, SKCodecResult result, ImageDecodeOptions options)
    {
        // Skia refuses some BMP headers (a height beyond what the data could hold) before we see the size: the limit
        // still comes first, from the header we read ourselves.
        if (format == ImageFormat.Bmp && BmpHeader.Read(data) is { Width: > 0, Height: > 0 } bmp)
            DecodeLimits.CheckSize(bmp.Width, bmp.Height, options, format);
        if (IsCutOff(data, format))
            return new ImageDecodeException(ImageDecodeError.Truncated, $"the {Name(format)} header ends early (the data is cut off; Skia: {result})");
        return result == SKCodecResult.Unimplemented
            ? new ImageDecodeException(ImageDecodeError.Unsupported, $"this kind of {Name(format)} image is not supported (Skia: {result})")
            : new ImageDecodeException(ImageDecodeError.Corrupt, $"the {Name(format)} header is corrupt (Skia: {result})");
    }

    /// <summary>The format's usual written name (JPEG, PNG, WebP, GIF, BMP), for messages.</summary>
    internal static string Name(ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => "JPEG",
        ImageFormat.Png => "PNG",
        ImageFormat.WebP => "WebP",
        ImageFormat.Gif => "GIF",
        ImageFormat.Bmp => "BMP",
        _ => format.ToString(),
    };

    private static void CheckPixels(ReadOnlySpan<byte> data, ImageFormat format, SKCodecResult result)
    {
        switch (result)
        {
            case SKCodecResult.Success:
                // libjpeg makes up the missing scans of a cut-off progressive JPEG; Pillow refuses the file.
                if (format == ImageFormat.Jpeg && IsCutOff(data, format))
                    throw new ImageDecodeException(ImageDecodeError.Truncated, "the JPEG data ends early (image file is truncated: no end-of-image marker)");
                return;
            case var _ when IsCutOff(data, format):
                throw new ImageDecodeException(ImageDecodeError.Truncated, $"the {Name(format)} data ends early (image file is truncated; Skia: {result})");
            case SKCodecResult.Unimplemented:
                throw new ImageDecodeException(ImageDecodeError.Unsupported, $"this kind of {Name(format)} image is not supported (Skia: {result})");
            default:
                throw new ImageDecodeException(ImageDecodeError.Corrupt, $"the {Name(format)} data is corrupt (Skia: {result})");
        }
    }

    /// <summary>
    /// Whether the data was cut off: the container structure runs past the end of the data, and (for JPEG and PNG)
    /// the data does not end with the end marker a damaged but complete file still has.
    /// </summary>
    private static bool IsCutOff(ReadOnlySpan<byte> data, ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => JpegMarkers.Walk(data) == Completeness.Truncated && !JpegMarkers.EndsWithEndOfImage(data),
        ImageFormat.Png => PngChunks.Walk(data) == Completeness.Truncated && !PngChunks.EndsWithEnd(data),
        ImageFormat.WebP => WebPRiff.IsTruncated(data),
        ImageFormat.Gif => GifFirstFrame.Read(data).Completeness == Completeness.Truncated,
        ImageFormat.Bmp => data.Length < BmpHeader.Read(data).ExpectedLength,
        _ => false,
    };
}
