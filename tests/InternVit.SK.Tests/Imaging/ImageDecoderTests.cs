using InternVit.SK.Imaging;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Imaging;

public class ImageDecoderTests(ITestOutputHelper output)
{
    private static readonly ImageDecodeOptions AsReference = ImageDecodeOptions.Default with { ApplyExifOrientation = false };

    /// <summary>
    /// JPEG and lossy WebP against Pillow's <c>np.asarray(Image.open(f).convert('RGB'))</c>. Decoders may differ by a
    /// few levels (IDCT, chroma upsampling); we allow 2 and report the figures (today both match exactly).
    /// </summary>
    [Theory]
    [InlineData("photo_jpeg_1024x768", ImageFormat.Jpeg)]
    [InlineData("photo_webp_800x450", ImageFormat.WebP)]
    [InlineData("exif_rot6_600x400", ImageFormat.Jpeg)]
    public void Lossy_sources_decode_like_pillow(string id, ImageFormat format)
    {
        var (shape, expected) = PreprocessGoldens.ReadGz(id + ".decoded_rgb.safetensors.gz", "decoded_rgb");
        using var image = ImageDecoder.DecodeFile(PreprocessGoldens.ImagePath(id), AsReference);
        Assert.Equal(format, image.SourceFormat);
        Assert.Equal([image.Height, image.Width, 3], shape);
        var (equal, max) = PreprocessGoldens.Compare(image.Pixels, expected);
        output.WriteLine($"{id}: {equal}/{expected.Length} samples equal ({100.0 * equal / expected.Length:0.####}%), max difference {max}");
        Assert.True(max <= 2, $"max difference {max}");
        Assert.True(equal >= expected.Length * 0.99, $"only {equal} of {expected.Length} equal");
    }

    [Theory]
    [InlineData("receipt_576x1400")]       // RGB
    [InlineData("paragraph_gray_1240x1754")] // L
    [InlineData("tinytext_palette_800x200")] // 4-bit palette
    [InlineData("rgba_700x700")]            // RGBA: alpha dropped, not composited
    [InlineData("palette_trns_500x500")]    // palette + tRNS: the transparent entry keeps its RGB
    [InlineData("rgb16_256x384")]           // 16-bit RGB: high byte
    [InlineData("gray16_600x300")]          // 16-bit gray: high byte (departs from Pillow, see below)
    public void Png_pixels_are_the_files_samples_as_rgb(string id)
    {
        // Independent of libpng: the samples straight from the file (our own inflate + unfilter), expanded the way
        // Pillow's convert('RGB') expands them.
        var raw = RawPng.Read(PreprocessGoldens.ImagePath(id));
        using var image = ImageDecoder.DecodeFile(PreprocessGoldens.ImagePath(id));
        Assert.Equal((raw.Width, raw.Height), (image.Width, image.Height));
        var palette = raw.ColorType == 3 ? ReadPalette(PreprocessGoldens.ImagePath(id)) : null;
        var pixels = image.Pixels;
        for (int y = 0; y < raw.Height; y++)
        {
            for (int x = 0; x < raw.Width; x++)
            {
                int r, g, b;
                if (palette is not null)
                {
                    int index = PaletteIndex(raw, x, y);
                    (r, g, b) = (palette[3 * index], palette[3 * index + 1], palette[3 * index + 2]);
                }
                else
                {
                    int shift = raw.BitDepth == 16 ? 8 : 0;
                    bool gray = raw.ColorType is 0 or 4;
                    r = raw.Sample(x, y, 0) >> shift;
                    g = gray ? r : raw.Sample(x, y, 1) >> shift;
                    b = gray ? r : raw.Sample(x, y, 2) >> shift;
                }
                int o = (y * raw.Width + x) * 3;
                if (pixels[o] != r || pixels[o + 1] != g || pixels[o + 2] != b)
                    Assert.Fail($"{id} ({x},{y}): decoded ({pixels[o]},{pixels[o + 1]},{pixels[o + 2]}), file says ({r},{g},{b})");
            }
        }
    }

    /// <summary>
    /// Product decision (tests/fixtures/DECISIONS.md): a 16-bit gray PNG keeps the high byte. This DEPARTS from the
    /// golden gray16_600x300.tiles_u8: Pillow opens it as mode I and convert('RGB') clips to 0..255, so the reference
    /// tiles are almost all white. We assert our behaviour and that the golden really is the clipped one.
    /// </summary>
    [Fact]
    public void Gray16_keeps_the_high_byte_where_pillow_clips()
    {
        string path = PreprocessGoldens.ImagePath("gray16_600x300");
        var raw = RawPng.Read(path);
        using var image = ImageDecoder.DecodeFile(path);
        int mid = raw.Sample(300, 150, 0);
        Assert.Equal(mid >> 8, image.Pixels[(150 * 600 + 300) * 3]);

        var (_, golden) = PreprocessGoldens.ReadGz("gray16_600x300.tiles_u8.safetensors.gz", "tiles_u8");
        long white = golden.Count(v => v == 255);
        Assert.True(white > golden.Length * 0.9, $"the golden should be clipped to white; {white}/{golden.Length} are 255");
        long ourWhite = image.Pixels.Count((byte)255);
        Assert.True(ourWhite < image.Pixels.Length / 2, $"{ourWhite} of {image.Pixels.Length} samples are 255");
    }

    [Fact]
    public void Exif_orientation_6_is_applied_by_default_and_ignored_on_request()
    {
        // exif_rot6_600x400.jpg is stored 600x400 with Orientation=6 (rotate 90 degrees clockwise to view).
        string path = PreprocessGoldens.ImagePath("exif_rot6_600x400");
        using var stored = ImageDecoder.DecodeFile(path, AsReference);
        using var upright = ImageDecoder.DecodeFile(path);
        Assert.Equal((600, 400), (stored.Width, stored.Height));
        Assert.Equal((400, 600), (upright.Width, upright.Height));
        // Rotated clockwise: the upright image's top row is the stored image's left column, read bottom to top.
        for (int y = 0; y < 600; y += 7)
            for (int x = 0; x < 400; x += 5)
                for (int c = 0; c < 3; c++)
                    Assert.Equal(stored.Pixels[((399 - x) * 600 + y) * 3 + c], upright.Pixels[(y * 400 + x) * 3 + c]);
    }

    [Fact]
    public void Alpha_can_be_composited_onto_white()
    {
        string path = PreprocessGoldens.ImagePath("rgba_700x700");
        var raw = RawPng.Read(path);
        using var image = ImageDecoder.DecodeFile(path, ImageDecodeOptions.Default with { CompositeAlphaOnWhite = true });
        int transparent = 0;
        for (int y = 0; y < raw.Height; y += 3)
        {
            for (int x = 0; x < raw.Width; x += 3)
            {
                int a = raw.Sample(x, y, 3);
                if (a == 0) transparent++;
                for (int c = 0; c < 3; c++)
                {
                    int expected = (int)Math.Round((raw.Sample(x, y, c) * a + 255.0 * (255 - a)) / 255.0, MidpointRounding.AwayFromZero);
                    Assert.Equal(expected, image.Pixels[(y * raw.Width + x) * 3 + c]);
                }
            }
        }
        Assert.True(transparent > 0, "the fixture has a fully transparent band");
    }

    private static byte[] ReadPalette(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        int at = data.AsSpan().IndexOf("PLTE"u8);
        int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(at - 4));
        return data.AsSpan(at + 4, length).ToArray();
    }

    private static int PaletteIndex(RawPng.Image raw, int x, int y)
    {
        int perByte = 8 / raw.BitDepth;
        byte packed = raw.Scanlines[y * raw.RowBytes + x / perByte];
        int shift = 8 - raw.BitDepth * (x % perByte + 1);
        return (packed >> shift) & ((1 << raw.BitDepth) - 1);
    }
}
