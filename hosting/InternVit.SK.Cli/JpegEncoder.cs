using SkiaSharp;

namespace InternVit.SK.Cli;

/// <summary>
/// Encodes RGB pixels as a baseline 4:2:0 JPEG through SkiaSharp, for the benchmarks: <c>bench</c>'s synthetic photo
/// and <c>bench tiles --as-jpeg</c>. The engine decodes images but has no encoder of its own.
/// </summary>
internal static class JpegEncoder
{
    public static byte[] EncodeRgb(ReadOnlySpan<byte> rgb, int width, int height, int quality)
    {
        int pixels = checked(width * height);
        if (rgb.Length != pixels * 3) throw new ArgumentException($"{rgb.Length} bytes is not {width}x{height}x3", nameof(rgb));
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var rgba = bitmap.GetPixelSpan();
        for (int i = 0, s = 0, d = 0; i < pixels; i++, s += 3, d += 4)
        {
            rgba[d] = rgb[s];
            rgba[d + 1] = rgb[s + 1];
            rgba[d + 2] = rgb[s + 2];
            rgba[d + 3] = 255;
        }
        using var pixmap = bitmap.PeekPixels();
        using var jpeg = pixmap.Encode(new SKJpegEncoderOptions(quality, SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore))
            ?? throw new InvalidOperationException("JPEG encoding failed");
        return jpeg.ToArray();
    }
}
