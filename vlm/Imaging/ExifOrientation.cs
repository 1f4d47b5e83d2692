namespace InternVit.SK.Imaging;

/// <summary>
/// Turning an image upright by its EXIF Orientation tag (0x0112; Skia reads it, <c>SKCodec.EncodedOrigin</c>, whose
/// values are the tag's), as Pillow's <c>ImageOps.exif_transpose</c> does: 2 mirror, 3 rotate 180, 4 flip,
/// 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise.
/// </summary>
internal static class ExifOrientation
{
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
