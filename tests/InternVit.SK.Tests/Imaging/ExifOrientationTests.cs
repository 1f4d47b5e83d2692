using InternVit.SK.Imaging;

namespace InternVit.SK.Tests.Imaging;

public class ExifOrientationTests
{
    // Each orientation as a composition of the three elementary moves (Pillow's exif_transpose table):
    // 2 mirror, 3 mirror+flip, 4 flip, 5 transpose, 6 transpose then mirror (90 degrees clockwise),
    // 7 transpose then mirror+flip, 8 transpose then flip (90 degrees counter-clockwise).
    private static (int X, int Y) Source(int orientation, int x, int y, int w, int h)
    {
        (int, int) Mirror((int X, int Y) p, int width) => (width - 1 - p.X, p.Y);
        (int, int) Flip((int X, int Y) p, int height) => (p.X, height - 1 - p.Y);
        // Undo the moves in reverse order: output (x, y) -> source (x, y); w and h are the output's size, which is
        // also the size the moves after a transpose work on.
        return orientation switch
        {
            1 => (x, y),
            2 => Mirror((x, y), w),
            3 => Mirror(Flip((x, y), h), w),
            4 => Flip((x, y), h),
            5 => (y, x),
            6 => Transposed(Mirror((x, y), w)),
            7 => Transposed(Mirror(Flip((x, y), h), w)),
            8 => Transposed(Flip((x, y), h)),
            _ => throw new ArgumentOutOfRangeException(nameof(orientation)),
        };
        static (int, int) Transposed((int X, int Y) p) => (p.Y, p.X);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Turns_the_image_like_pillows_exif_transpose(int orientation)
    {
        const int w = 5, h = 3;
        var rgb = new byte[w * h * 3];
        for (int i = 0; i < rgb.Length; i++) rgb[i] = (byte)i;
        using var image = DecodedImage.FromRgb24(w, h, rgb);
        using var turned = ExifOrientation.Apply(image, orientation);
        int outW = orientation >= 5 ? h : w, outH = orientation >= 5 ? w : h;
        Assert.Equal((outW, outH), (turned.Width, turned.Height));
        for (int y = 0; y < outH; y++)
            for (int x = 0; x < outW; x++)
            {
                var (sx, sy) = Source(orientation, x, y, outW, outH);
                Assert.Equal(rgb[(sy * w + sx) * 3], turned.Pixels[(y * outW + x) * 3]);
            }
    }

    /// <summary>
    /// Every orientation end to end: exif_rot6_600x400.jpg with its Orientation value (the IFD entry at byte 0x28, a
    /// big-endian SHORT whose low byte is at 0x31)
    /// set to 1..8. Skia reads the tag, the decoder turns the stored pixels as <see cref="ExifOrientation.Apply"/> does,
    /// and ignores the tag on request.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void The_decoder_applies_the_files_orientation_tag(int orientation)
    {
        byte[] jpeg = File.ReadAllBytes(PreprocessGoldens.ImagePath("exif_rot6_600x400"));
        Assert.True(jpeg.AsSpan(0x28, 8).SequenceEqual((byte[])[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01]), "the fixture's Orientation entry moved");
        Assert.Equal(6, jpeg[0x31]);
        jpeg[0x31] = (byte)orientation;

        using var stored = ImageDecoder.Decode(jpeg, ImageDecodeOptions.Default with { ApplyExifOrientation = false });
        using var upright = ImageDecoder.Decode(jpeg);
        Assert.Equal((600, 400), (stored.Width, stored.Height));
        if (orientation == 1)
        {
            Assert.True(stored.Pixels.SequenceEqual(upright.Pixels));
            return;
        }
        using var expected = ExifOrientation.Apply(stored, orientation);
        Assert.Equal((expected.Width, expected.Height), (upright.Width, upright.Height));
        Assert.True(expected.Pixels.SequenceEqual(upright.Pixels), $"orientation {orientation} turned differently");
    }
}
