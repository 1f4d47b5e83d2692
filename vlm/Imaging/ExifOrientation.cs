using System.Buffers.Binary;

namespace InternVit.SK.Imaging;

/// <summary>
/// The EXIF Orientation tag (0x0112) of a JPEG, and turning an image upright by it, as Pillow's
/// <c>ImageOps.exif_transpose</c> does: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90° clockwise,
/// 7 transverse, 8 rotate 90° counter-clockwise.
/// </summary>
internal static class ExifOrientation
{
    /// <summary>The orientation 1..8 from the first EXIF APP1 segment; 1 when there is none or it cannot be read.</summary>
    public static int Read(ReadOnlySpan<byte> jpeg)
    {
        int position = 2; // after SOI
        while (position + 4 <= jpeg.Length && jpeg[position] == 0xFF)
        {
            byte marker = jpeg[position + 1];
            if (marker == 0xFF) { position++; continue; }          // fill byte
            if (marker is 0xDA or 0xD9) break;                       // start of scan, end of image
            int length = BinaryPrimitives.ReadUInt16BigEndian(jpeg[(position + 2)..]);
            if (length < 2 || position + 2 + length > jpeg.Length) break;
            var payload = jpeg.Slice(position + 4, length - 2);
            if (marker == 0xE1 && payload.StartsWith("Exif\0\0"u8)) return FromTiff(payload[6..]);
            position += 2 + length;
        }
        return 1;
    }

    private static int FromTiff(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8) return 1;
        bool little;
        if (tiff.StartsWith("II*\0"u8)) little = true;
        else if (tiff.StartsWith("MM\0*"u8)) little = false;
        else return 1;
        uint ifd = U32(tiff, 4, little);
        if (ifd > (uint)tiff.Length - 2) return 1;
        int count = U16(tiff, (int)ifd, little);
        for (int i = 0; i < count; i++)
        {
            int entry = (int)ifd + 2 + i * 12;
            if (entry + 12 > tiff.Length) break;
            if (U16(tiff, entry, little) != 0x0112) continue;
            if (U16(tiff, entry + 2, little) != 3) return 1; // must be SHORT
            int value = U16(tiff, entry + 8, little);
            return value is >= 1 and <= 8 ? value : 1;
        }
        return 1;
    }

    private static ushort U16(ReadOnlySpan<byte> s, int at, bool little) =>
        little ? BinaryPrimitives.ReadUInt16LittleEndian(s[at..]) : BinaryPrimitives.ReadUInt16BigEndian(s[at..]);

    private static uint U32(ReadOnlySpan<byte> s, int at, bool little) =>
        little ? BinaryPrimitives.ReadUInt32LittleEndian(s[at..]) : BinaryPrimitives.ReadUInt32BigEndian(s[at..]);

    /// <summary>A new image: <paramref name="image"/> turned upright for <paramref name="orientation"/> (2..8).</summary>
    public static DecodedImage Apply(DecodedImage image, int orientation)
    {
        int w = image.Width, h = image.Height;
        bool swap = orientation >= 5;
        int outW = swap ? h : w, outH = swap ? w : h;
        var result = DecodedImage.Allocate(outW, outH, image.SourceFormat);
        var src = image.Pixels;
        var dst = result.Buffer;
        for (int y = 0; y < outH; y++)
        {
            for (int x = 0; x < outW; x++)
            {
                (int sx, int sy) = orientation switch
                {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    8 => (w - 1 - y, x),
                    _ => (x, y),
                };
                int s = (sy * w + sx) * 3, d = (y * outW + x) * 3;
                dst[d] = src[s];
                dst[d + 1] = src[s + 1];
                dst[d + 2] = src[s + 2];
            }
        }
        return result;
    }
}
