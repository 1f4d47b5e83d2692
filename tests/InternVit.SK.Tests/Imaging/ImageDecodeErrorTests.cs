using InternVit.SK.Imaging;
using InternVit.SK.Tests.Onnx;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Imaging;

public class ImageDecodeErrorTests
{
    private static byte[] Fixture(string id) => File.ReadAllBytes(PreprocessGoldens.ImagePath(id));

    private static byte[] Head(string id, double fraction)
    {
        byte[] data = Fixture(id);
        return data[..(int)(data.Length * fraction)];
    }

    private static byte[] Damaged(string id, int from, int count)
    {
        byte[] data = Fixture(id);
        for (int i = from; i < from + count; i++) data[i] ^= 0x5A;
        return data;
    }

    public static TheoryData<string, byte[], ImageDecodeError, string> BadInputs => new()
    {
        { "zero bytes", [], ImageDecodeError.Empty, "empty" },
        { "GIF", "GIF89a\x01\0\x01\0\0\0\0;"u8.ToArray(), ImageDecodeError.Unsupported, "GIF" },
        { "text", "hello, world"u8.ToArray(), ImageDecodeError.Unsupported, "not a JPEG, PNG or WebP" },
        { "PNG signature cut", Fixture("small_50x30")[..5], ImageDecodeError.Truncated, "signature" },
        { "PNG cut in half", Head("table_1600x900", 0.5), ImageDecodeError.Truncated, "PNG" },
        { "PNG cut inside the header", Fixture("small_50x30")[..20], ImageDecodeError.Truncated, "PNG header" },
        { "PNG data damaged", Damaged("table_1600x900", 2000, 64), ImageDecodeError.Corrupt, "PNG data is corrupt" },
        { "JPEG cut in half", Head("photo_jpeg_1024x768", 0.5), ImageDecodeError.Truncated, "JPEG" },
        { "JPEG cut inside the header", Fixture("photo_jpeg_1024x768")[..40], ImageDecodeError.Truncated, "JPEG header" },
        { "JPEG header damaged", Damaged("photo_jpeg_1024x768", 4, 400), ImageDecodeError.Corrupt, "JPEG" },
        { "WebP cut in half", Head("photo_webp_800x450", 0.5), ImageDecodeError.Truncated, "WebP" },
        { "WebP data damaged", Damaged("photo_webp_800x450", 30, 2000), ImageDecodeError.Corrupt, "WebP" },
        { "PNG 60000x60000 header", RawPng.Write(60000, 60000, 8, 2, new byte[16]), ImageDecodeError.TooManyPixels, "60000x60000" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_raises_one_typed_error_that_says_what_is_wrong(string name, byte[] data, ImageDecodeError reason, string says)
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(data).Dispose());
        Assert.True(reason == e.Reason, $"{name}: expected {reason}, got {e.Reason}: {e.Message}");
        Assert.Contains(says, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Huge_header_is_refused_before_the_pixels_are_allocated()
    {
        byte[] png = RawPng.Write(60000, 60000, 8, 2, new byte[16]);
        ImageDecoder.Decode(Fixture("small_50x30")).Dispose(); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(png).Dispose());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(ImageDecodeError.TooManyPixels, e.Reason);
        Assert.True(allocated < 1 << 20, $"{allocated} bytes allocated for a refused image");
    }

    [Fact]
    public void Encoded_size_limit_is_checked_first()
    {
        var options = ImageDecodeOptions.Default with { MaxEncodedBytes = 1000 };
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.DecodeFile(PreprocessGoldens.ImagePath("table_1600x900"), options));
        Assert.Equal(ImageDecodeError.TooLarge, e.Reason);
        Assert.Contains("table_1600x900.png", e.Message);
        Assert.Contains("1,000", e.Message);
    }

    [Fact]
    public void Pixel_limit_applies_to_every_format()
    {
        var options = ImageDecodeOptions.Default with { MaxPixels = 100_000 };
        foreach (var id in new[] { "photo_jpeg_1024x768", "table_1600x900", "photo_webp_800x450" })
            Assert.Equal(ImageDecodeError.TooManyPixels, Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(Fixture(id), options)).Reason);
    }

    [Fact]
    public void Empty_file_names_the_file()
    {
        using var dir = new TempDir();
        string path = dir.File("empty.png");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.DecodeFile(path));
        Assert.Equal(ImageDecodeError.Empty, e.Reason);
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith(path + ": ", e.Message);
    }
}

/// <summary>Decoding many good and bad images leaves the process's resident memory flat (no native leak, no crash).</summary>
[Collection(OrtGlobalCollection.Name)]
public class ImageDecodeLeakTests(ITestOutputHelper output)
{
    [Fact]
    public void Many_decodes_of_good_and_bad_files_leave_rss_flat()
    {
        var inputs = new List<byte[]>();
        foreach (var id in new[] { "photo_jpeg_1024x768", "rgba_700x700", "rgb16_256x384", "photo_webp_800x450", "tinytext_palette_800x200" })
        {
            byte[] data = File.ReadAllBytes(PreprocessGoldens.ImagePath(id));
            inputs.Add(data);
            inputs.Add(data[..(data.Length * 2 / 3)]);
            var damaged = (byte[])data.Clone();
            for (int i = 100; i < 600; i++) damaged[i] ^= 0x33;
            inputs.Add(damaged);
        }
        int failures = 0;
        void Pass()
        {
            foreach (var data in inputs)
            {
                try { ImageDecoder.Decode(data).Dispose(); }
                catch (ImageDecodeException) { failures++; }
            }
        }
        for (int i = 0; i < 10; i++) Pass();
        long before = TestPaths.ResidentBytes();
        for (int i = 0; i < 100; i++) Pass();
        long after = TestPaths.ResidentBytes();
        long growth = after - before;
        output.WriteLine($"RSS after 150 warm-up decodes {before >> 20} MiB, after {100 * inputs.Count} more {after >> 20} MiB (growth {growth / 1024} KiB); {failures} refused");
        Assert.True(failures >= inputs.Count / 3 * 110, $"only {failures} bad inputs were refused");
        Assert.True(growth < 32L << 20, $"RSS grew by {growth >> 20} MiB over {100 * inputs.Count} decodes");
    }
}
