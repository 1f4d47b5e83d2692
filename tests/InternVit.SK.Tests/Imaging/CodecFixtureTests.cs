using System.Text.Json.Nodes;
using InternVit.SK.Imaging;

namespace InternVit.SK.Tests.Imaging;

/// <summary>
/// The small GIF/BMP/JPEG/PNG files of tests/fixtures/codecs against the RGB bytes Pillow 9.4's
/// <c>Image.open(f).convert('RGB')</c> wrote beside them (make_codec_fixtures.py). These are the cases where Skia's own
/// pixels differ from Pillow's (GIF transparency and partial frames, BMP RLE gaps and 16-bit samples) or that the
/// preprocessing goldens do not cover (CMYK and progressive JPEG, 16-bit PNG with alpha, gAMA).
/// </summary>
public class CodecFixtureTests
{
    private static readonly ImageDecodeOptions AsReference = ImageDecodeOptions.Default with { ApplyExifOrientation = false };

    private static string Folder => Path.Combine(TestPaths.Fixtures, "codecs");

    private static JsonArray Catalog() => JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "codecs.json")))!["fixtures"]!.AsArray();

    public static TheoryData<string> Names()
    {
        var names = new TheoryData<string>();
        foreach (var fixture in Catalog()) names.Add((string)fixture!["name"]!);
        return names;
    }

    private static (string Path, int Width, int Height, byte[] Expected) Fixture(string name)
    {
        foreach (var fixture in Catalog())
        {
            if ((string?)fixture!["name"] != name) continue;
            return (Path.Combine(Folder, (string)fixture["file"]!), (int)fixture["width"]!, (int)fixture["height"]!,
                File.ReadAllBytes(Path.Combine(Folder, name + ".rgb")));
        }
        throw new ArgumentException($"no fixture '{name}' in codecs.json");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Decodes_to_exactly_pillows_rgb(string name)
    {
        var (path, width, height, expected) = Fixture(name);
        using var image = ImageDecoder.DecodeFile(path, AsReference);
        Assert.Equal((width, height), (image.Width, image.Height));
        var pixels = image.Pixels;
        Assert.Equal(expected.Length, pixels.Length);
        for (int i = 0; i < expected.Length; i += 3)
        {
            if (pixels[i] != expected[i] || pixels[i + 1] != expected[i + 1] || pixels[i + 2] != expected[i + 2])
                Assert.Fail($"{name} pixel ({i / 3 % width},{i / 3 / width}): decoded ({pixels[i]},{pixels[i + 1]},{pixels[i + 2]}), Pillow ({expected[i]},{expected[i + 1]},{expected[i + 2]})");
        }
    }

    [Theory]
    [InlineData("gif_palette", ImageFormat.Gif, "image/gif")]
    [InlineData("bmp_rgb24", ImageFormat.Bmp, "image/bmp")]
    [InlineData("jpeg_cmyk", ImageFormat.Jpeg, "image/jpeg")]
    [InlineData("png_gray2", ImageFormat.Png, "image/png")]
    public void Format_is_sniffed_and_named(string name, ImageFormat format, string mediaType)
    {
        var (path, _, _, _) = Fixture(name);
        byte[] data = File.ReadAllBytes(path);
        Assert.Equal(format, ImageDecoder.DetectFormat(data));
        Assert.Equal(mediaType, ImageDecoder.MediaType(format));
        using var image = ImageDecoder.Decode(data);
        Assert.Equal(format, image.SourceFormat);
    }

    /// <summary>
    /// Palette index 5 of gif_transparent is transparent. Dropping alpha (the default) keeps its palette colour, as
    /// Pillow does; compositing turns exactly those pixels white and leaves the others alone.
    /// </summary>
    [Fact]
    public void Gif_transparency_composites_onto_white_on_request()
    {
        var (path, _, _, expected) = Fixture("gif_transparent");
        using var composited = ImageDecoder.DecodeFile(path, ImageDecodeOptions.Default with { CompositeAlphaOnWhite = true });
        var pixels = composited.Pixels;
        var transparentColour = (19, 219, 209); // palette entry 5 of make_codec_fixtures.py
        int white = 0;
        for (int i = 0; i < expected.Length; i += 3)
        {
            if ((expected[i], expected[i + 1], expected[i + 2]) == transparentColour)
            {
                Assert.Equal((255, 255, 255), (pixels[i], pixels[i + 1], pixels[i + 2]));
                white++;
            }
            else Assert.Equal((expected[i], expected[i + 1], expected[i + 2]), (pixels[i], pixels[i + 1], pixels[i + 2]));
        }
        Assert.True(white > 0, "the fixture has transparent pixels");
    }

    /// <summary>Outside gif_partial's first frame Pillow shows palette index 0, opaque: compositing must not whiten it.</summary>
    [Fact]
    public void Gif_area_outside_the_first_frame_is_opaque_without_a_transparent_index()
    {
        var (path, width, _, expected) = Fixture("gif_partial");
        using var composited = ImageDecoder.DecodeFile(path, ImageDecodeOptions.Default with { CompositeAlphaOnWhite = true });
        int corner = ((36 - 1) * width + width - 1) * 3;
        Assert.Equal((90, 20, 200), (composited.Pixels[corner], composited.Pixels[corner + 1], composited.Pixels[corner + 2]));
        Assert.Equal(expected, composited.Pixels.ToArray());
    }

    [Fact]
    public void Bmp_alpha_bitfields_composite_onto_white()
    {
        var (path, width, height, expected) = Fixture("bmp_bgra32_bitfields");
        using var composited = ImageDecoder.DecodeFile(path, ImageDecodeOptions.Default with { CompositeAlphaOnWhite = true });
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int a = x * 7 % 256, o = (y * width + x) * 3; // the alpha make_codec_fixtures.py wrote
                for (int c = 0; c < 3; c++)
                {
                    int want = (int)Math.Round((expected[o + c] * a + 255.0 * (255 - a)) / 255.0, MidpointRounding.AwayFromZero);
                    Assert.Equal(want, composited.Pixels[o + c]);
                }
            }
        }
    }
}
