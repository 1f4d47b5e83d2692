using System.Buffers;
using System.Buffers.Binary;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>
/// Still WebP images (lossy and lossless) through libwebp's simple API, with its default fancy upsampling. Animated
/// WebP is refused. A RIFF size larger than the data means the file was cut off.
/// </summary>
internal static unsafe class WebPCodec
{
    public static DecodedImage Decode(ReadOnlySpan<byte> data, ImageDecodeOptions options)
    {
        bool truncated = data.Length < 12 || BinaryPrimitives.ReadUInt32LittleEndian(data[4..]) + 8L > data.Length;
        if (IsAnimated(data)) throw new ImageDecodeException(ImageDecodeError.Unsupported, "animated WebP images are not supported");
        fixed (byte* webp = data)
        {
            int width, height;
            if (LibWebP.GetInfo(webp, (nuint)data.Length, &width, &height) == 0) throw Failure(truncated, "header");
            DecodeLimits.CheckSize(width, height, options, ImageFormat.WebP);
            var image = DecodedImage.Allocate(width, height, ImageFormat.WebP);
            try
            {
                if (options.CompositeAlphaOnWhite) DecodeRgbaOnWhite(webp, data.Length, image, truncated);
                else
                {
                    var rgb = image.Buffer;
                    fixed (byte* destination = rgb)
                        if (LibWebP.DecodeRgbInto(webp, (nuint)data.Length, destination, (nuint)rgb.Length, width * 3) == null)
                            throw Failure(truncated, "data");
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

    private static void DecodeRgbaOnWhite(byte* webp, int length, DecodedImage image, bool truncated)
    {
        int bytes = checked(image.Width * image.Height * 4);
        byte[] rgba = ArrayPool<byte>.Shared.Rent(bytes);
        try
        {
            fixed (byte* destination = rgba)
                if (LibWebP.DecodeRgbaInto(webp, (nuint)length, destination, (nuint)bytes, image.Width * 4) == null)
                    throw Failure(truncated, "data");
            RgbaToRgb.Convert(rgba.AsSpan(0, bytes), image.Buffer, compositeOnWhite: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    private static bool IsAnimated(ReadOnlySpan<byte> data) =>
        data.Length >= 21 && data.Slice(12, 4).SequenceEqual("VP8X"u8) && (data[20] & 0x02) != 0;

    private static ImageDecodeException Failure(bool truncated, string part) => truncated
        ? new ImageDecodeException(ImageDecodeError.Truncated, $"the WebP {part} ends early (the file is shorter than its RIFF size)")
        : new ImageDecodeException(ImageDecodeError.Corrupt, $"the WebP {part} is corrupt (libwebp rejected it)");
}
