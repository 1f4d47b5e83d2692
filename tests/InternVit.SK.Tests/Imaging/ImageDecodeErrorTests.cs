using InternVit.SK.Imaging;
using InternVit.SK.Tests.Onnx;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Imaging;

public class ImageDecodeErrorTests
{
    private static byte[] Fixture(string id) => File.ReadAllBytes(PreprocessGoldens.ImagePath(id));

    /// <summary>A file of tests/fixtures/codecs.</summary>
    internal static byte[] Codec(string file) => File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "codecs", file));

    private static byte[] Cut(byte[] data, double fraction) => data[..(int)(data.Length * fraction)];

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
        { "TIFF", "II*\0\x08\0\0\0\0\0"u8.ToArray(), ImageDecodeError.Unsupported, "TIFF" },
        { "text", "hello, world"u8.ToArray(), ImageDecodeError.Unsupported, "not a JPEG, PNG, WebP, GIF or BMP" },
        { "PNG signature cut", Fixture("small_50x30")[..5], ImageDecodeError.Truncated, "signature" },
        { "PNG cut in half", Head("table_1600x900", 0.5), ImageDecodeError.Truncated, "PNG" },
        { "PNG cut inside the header", Fixture("small_50x30")[..20], ImageDecodeError.Truncated, "PNG header" },
        { "PNG data damaged", Damaged("table_1600x900", 2000, 64), ImageDecodeError.Corrupt, "PNG data is corrupt" },
        { "JPEG cut in half", Head("photo_jpeg_1024x768", 0.5), ImageDecodeError.Truncated, "JPEG" },
        { "JPEG cut inside the header", Fixture("photo_jpeg_1024x768")[..40], ImageDecodeError.Truncated, "JPEG header" },
        { "JPEG header damaged", Damaged("photo_jpeg_1024x768", 4, 400), ImageDecodeError.Corrupt, "JPEG" },
        { "JPEG without its end marker", Fixture("photo_jpeg_1024x768")[..^2], ImageDecodeError.Truncated, "truncated" },
        // Skia decodes a cut progressive JPEG without an error (libjpeg makes up the missing scans); Pillow refuses it.
        { "progressive JPEG cut at 30%", Cut(Codec("jpeg_progressive.jpg"), 0.3), ImageDecodeError.Truncated, "truncated" },
        { "progressive JPEG cut at 60%", Cut(Codec("jpeg_progressive.jpg"), 0.6), ImageDecodeError.Truncated, "truncated" },
        { "progressive JPEG cut at 90%", Cut(Codec("jpeg_progressive.jpg"), 0.9), ImageDecodeError.Truncated, "truncated" },
        { "GIF signature cut", "GIF8"u8.ToArray(), ImageDecodeError.Truncated, "signature" },
        { "GIF cut inside the colour table", Codec("gif_palette.gif")[..40], ImageDecodeError.Truncated, "GIF" },
        { "GIF cut in half", Cut(Codec("gif_palette.gif"), 0.5), ImageDecodeError.Truncated, "GIF" },
        { "GIF without an image", "GIF89a\x01\0\x01\0\0\0\0;"u8.ToArray(), ImageDecodeError.Corrupt, "GIF" },
        { "BMP signature cut", "BM\x10\0\0"u8.ToArray(), ImageDecodeError.Truncated, "signature" },
        { "BMP cut in half", Cut(Codec("bmp_rgb24.bmp"), 0.5), ImageDecodeError.Truncated, "BMP" },
        { "BMP cut inside the palette", Codec("bmp_pal8.bmp")[..100], ImageDecodeError.Truncated, "BMP" },
        { "RLE BMP cut in half", Cut(Codec("bmp_rle8.bmp"), 0.5), ImageDecodeError.Truncated, "BMP" },
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
        var small = ImageDecodeOptions.Default with { MaxPixels = 40 * 30 - 1 };
        foreach (var file in new[] { "gif_palette.gif", "bmp_rgb24.bmp", "bmp_rle4.bmp" })
            Assert.Equal(ImageDecodeError.TooManyPixels, Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(Codec(file), small)).Reason);
    }

    [Theory]
    [InlineData("GIF", 60000, 60000)]
    [InlineData("BMP", 60000, 60000)]
    [InlineData("BMP", 3, -60000000)]
    public void Huge_gif_and_bmp_headers_are_refused_from_the_header(string format, int width, int height)
    {
        byte[] data = format == "GIF" ? Codec("gif_palette.gif") : Codec("bmp_rgb24.bmp");
        if (format == "GIF")
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(6), (ushort)width);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(8), (ushort)height);
        }
        else
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(18), width);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(22), height);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(data).Dispose());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(e.Reason == ImageDecodeError.TooManyPixels, $"{e.Reason}: {e.Message}");
        Assert.Contains($"{width}x{Math.Abs(height)}", e.Message);
        Assert.True(allocated < 1 << 20, $"{allocated} bytes allocated for a refused image");
    }

    [Fact]
    public void Bytes_after_the_jpeg_end_marker_are_ignored()
    {
        byte[] jpeg = Fixture("photo_jpeg_1024x768");
        using var plain = ImageDecoder.Decode(jpeg);
        using var padded = ImageDecoder.Decode([.. jpeg, .. new byte[100], .. "trailer"u8]);
        Assert.True(plain.Pixels.SequenceEqual(padded.Pixels));
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
        var files = new List<string>();
        foreach (var id in new[] { "photo_jpeg_1024x768", "rgba_700x700", "rgb16_256x384", "photo_webp_800x450", "tinytext_palette_800x200" })
            files.Add(PreprocessGoldens.ImagePath(id));
        foreach (var file in new[] { "gif_transparent.gif", "gif_palette.gif", "bmp_rle8_eol.bmp", "bmp_rgb565.bmp", "jpeg_progressive.jpg", "jpeg_cmyk.jpg" })
            files.Add(Path.Combine(TestPaths.Fixtures, "codecs", file));
        foreach (var file in files)
        {
            byte[] data = File.ReadAllBytes(file);
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
        output.WriteLine($"RSS after {10 * inputs.Count} warm-up decodes {before >> 20} MiB, after {100 * inputs.Count} more {after >> 20} MiB (growth {growth / 1024} KiB); {failures} refused");
        Assert.True(failures >= inputs.Count / 3 * 110, $"only {failures} bad inputs were refused");
        Assert.True(growth < 32L << 20, $"RSS grew by {growth >> 20} MiB over {100 * inputs.Count} decodes");
    }
}
