using System.Buffers;
using SkiaSharp;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>Encodes RGB pixels as a baseline 4:2:0 JPEG through Skia (the benchmarks use it to make a JPEG of any image).</summary>
internal static unsafe class JpegEncoder
{
    public static byte[] EncodeRgb(ReadOnlySpan<byte> rgb, int width, int height, int quality)
    {
        int pixels = checked(width * height);
        if (rgb.Length != pixels * 3) throw new ArgumentException($"{rgb.Length} bytes is not {width}x{height}x3", nameof(rgb));
        byte[] rgba = ArrayPool<byte>.Shared.Rent(checked(pixels * 4));
        try
        {
            for (int i = 0, s = 0, d = 0; i < pixels; i++, s += 3, d += 4)
            {
                rgba[d] = rgb[s];
                rgba[d + 1] = rgb[s + 1];
                rgba[d + 2] = rgb[s + 2];
                rgba[d + 3] = 255;
            }
            fixed (byte* source = rgba)
            {
                using var pixmap = new SKPixmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque, null), (nint)source, width * 4);
                using var jpeg = pixmap.Encode(new SKJpegEncoderOptions(quality, SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore))
                    ?? throw new InvalidOperationException("JPEG encoding failed");
                return jpeg.ToArray();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }
}
