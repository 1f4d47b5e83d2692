using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Codecs;
using SkiaSharp;

namespace InternVit.SK.Tests.Imaging;

/// <summary>
/// Baseline JPEGs of <see cref="SkiaImageCodec.TwoBandRows"/> rows or more decode in two bands of rows on two threads;
/// the pixels must be exactly those of one pass, for every chroma subsampling (fancy upsampling needs the rows around
/// the cut) and for band boundaries inside and between MCU rows.
/// </summary>
public sealed class JpegTwoBandTests
{
    public static TheoryData<SKJpegEncoderDownsample, int> Cases => new()
    {
        { SKJpegEncoderDownsample.Downsample420, 900 },
        { SKJpegEncoderDownsample.Downsample420, 1001 }, // the cut (row 500) falls inside an MCU row
        { SKJpegEncoderDownsample.Downsample422, 777 },
        { SKJpegEncoderDownsample.Downsample444, 640 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Two_bands_give_exactly_the_pixels_of_one_pass(SKJpegEncoderDownsample subsampling, int height)
    {
        const int width = 733;
        byte[] jpeg = Photo(width, height, subsampling);
        Assert.False(JpegMarkers.IsProgressive(jpeg));
        using var decoded = ImageDecoder.Decode(jpeg); // takes the two-band path (height >= TwoBandRows)

        using var codec = SKCodec.Create(new SKMemoryStream(jpeg));
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul, null);
        var rgba = new byte[width * height * 4];
        unsafe
        {
            fixed (byte* p = rgba) Assert.Equal(SKCodecResult.Success, codec.GetPixels(info, (nint)p, width * 4, new SKCodecOptions(0)));
        }
        var onePass = new byte[width * height * 3];
        for (int i = 0; i < width * height; i++)
        {
            onePass[3 * i] = rgba[4 * i];
            onePass[3 * i + 1] = rgba[4 * i + 1];
            onePass[3 * i + 2] = rgba[4 * i + 2];
        }
        Assert.True(onePass.AsSpan().SequenceEqual(decoded.Pixels), "the two-band decode differs from one pass");
    }

    [Fact]
    public void A_cut_off_baseline_jpeg_is_still_refused_as_truncated()
    {
        byte[] jpeg = Photo(600, 800, SKJpegEncoderDownsample.Downsample420);
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(jpeg.AsSpan(0, jpeg.Length * 2 / 3)));
        Assert.Equal(ImageDecodeError.Truncated, e.Reason);
    }

    /// <summary>Smooth gradients with seeded noise, so every MCU carries detail.</summary>
    private static byte[] Photo(int width, int height, SKJpegEncoderDownsample subsampling)
    {
        var random = new Random(width * height);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                bitmap.SetPixel(x, y, new SKColor((byte)(x * 255 / width), (byte)(y * 255 / height), (byte)random.Next(256)));
        using var pixmap = bitmap.PeekPixels();
        using var encoded = pixmap.Encode(new SKJpegEncoderOptions(90, subsampling, SKJpegEncoderAlphaOption.Ignore));
        return encoded!.ToArray();
    }
}
