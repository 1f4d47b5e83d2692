using System.Buffers;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>
/// PNG through libpng's simplified API, read so that the result equals Pillow's <c>convert('RGB')</c>:
/// <list type="bullet">
/// <item>8-bit (and 1/2/4-bit) files: RGB out, or RGBA when the file has alpha (an alpha channel or tRNS), whose alpha
/// is then dropped. libpng's 8-bit sRGB output is never premultiplied and never composited when alpha is asked for.</item>
/// <item>16-bit files without alpha: 16-bit "linear" output, which libpng leaves untouched when the file has no gAMA chunk
/// (16-bit data is assumed linear); we keep the high byte (v &gt;&gt; 8), as Pillow does for RGB. For 16-bit gray this departs
/// from Pillow, which clips (see tests/fixtures/DECISIONS.md).</item>
/// <item>16-bit files with alpha: libpng's linear output would premultiply, so these are read as 8-bit sRGB (flag
/// <c>PNG_IMAGE_FLAG_16BIT_sRGB</c>, no gamma change); libpng rounds v/257 there, at most one level above v &gt;&gt; 8.</item>
/// </list>
/// A file with a gAMA chunk that is not sRGB is gamma-corrected to sRGB by libpng (Pillow ignores gAMA).
/// </summary>
internal static unsafe class PngCodec
{
    public static DecodedImage Decode(ReadOnlySpan<byte> data, ImageDecodeOptions options)
    {
        using var handle = new PngImageHandle();
        var png = handle.Image;
        fixed (byte* memory = data)
        {
            if (LibPng.BeginReadFromMemory(png, memory, (nuint)data.Length) == 0)
                throw Failure(png->MessageText, "header");
            DecodeLimits.CheckSize(png->Width, png->Height, options, ImageFormat.Png);
            int width = (int)png->Width, height = (int)png->Height;
            uint source = png->Format;
            bool alpha = (source & LibPng.FormatFlagAlpha) != 0;
            bool color = (source & (LibPng.FormatFlagColor | LibPng.FormatFlagColormap)) != 0;
            bool sixteen = (source & LibPng.FormatFlagLinear) != 0;

            var image = DecodedImage.Allocate(width, height, ImageFormat.Png);
            try
            {
                if (sixteen && !alpha) ReadHighBytes(png, image, color);
                else if (alpha)
                {
                    if (sixteen) png->Flags |= LibPng.ImageFlag16BitSrgb;
                    ReadRgba(png, image, options.CompositeAlphaOnWhite);
                }
                else
                {
                    png->Format = LibPng.FormatFlagColor; // PNG_FORMAT_RGB
                    fixed (byte* destination = image.Buffer)
                        Finish(png, destination);
                }
                return image;
            }
            catch
            {
                image.Dispose();
                throw;
            }
        }
    }

    private static void ReadRgba(PngImage* png, DecodedImage image, bool compositeOnWhite)
    {
        png->Format = LibPng.FormatFlagColor | LibPng.FormatFlagAlpha; // PNG_FORMAT_RGBA
        int length = checked(image.Width * image.Height * 4);
        byte[] rgba = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            fixed (byte* destination = rgba)
                Finish(png, destination);
            RgbaToRgb.Convert(rgba.AsSpan(0, length), image.Buffer, compositeOnWhite);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    private static void ReadHighBytes(PngImage* png, DecodedImage image, bool color)
    {
        int channels = color ? 3 : 1;
        png->Format = LibPng.FormatFlagLinear | (color ? LibPng.FormatFlagColor : 0);
        int samples = checked(image.Width * image.Height * channels);
        ushort[] wide = ArrayPool<ushort>.Shared.Rent(samples);
        try
        {
            fixed (ushort* destination = wide)
                Finish(png, destination);
            var rgb = image.Buffer;
            if (color)
            {
                for (int i = 0; i < samples; i++) rgb[i] = (byte)(wide[i] >> 8);
            }
            else
            {
                for (int i = 0, d = 0; i < samples; i++, d += 3)
                {
                    byte v = (byte)(wide[i] >> 8);
                    rgb[d] = v;
                    rgb[d + 1] = v;
                    rgb[d + 2] = v;
                }
            }
        }
        finally
        {
            ArrayPool<ushort>.Shared.Return(wide);
        }
    }

    private static void Finish(PngImage* png, void* destination)
    {
        if (LibPng.FinishRead(png, null, destination, 0, null) == 0)
            throw Failure(png->MessageText, "data");
    }

    private static ImageDecodeException Failure(string message, string part)
    {
        bool truncated = message.Contains("end of data", StringComparison.OrdinalIgnoreCase)
                         || message.Contains("Not enough image data", StringComparison.OrdinalIgnoreCase)
                         || message.Contains("Read Error", StringComparison.OrdinalIgnoreCase)
                         || message.Contains("unexpected end", StringComparison.OrdinalIgnoreCase);
        if (message.Length == 0) message = "libpng gave no message";
        return truncated
            ? new ImageDecodeException(ImageDecodeError.Truncated, $"the PNG {part} ends early: {message}")
            : new ImageDecodeException(ImageDecodeError.Corrupt, $"the PNG {part} is corrupt: {message}");
    }
}
