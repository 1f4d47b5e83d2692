using InternVit.SK.Imaging;
using InternVit.SK.Tests.Onnx;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Imaging;

/// <summary>
/// Issue 22.8: a 9999×9999 image needs ~400 MB of RGBA while it decodes. That memory must go back to the system when the
/// image is disposed; taken from ArrayPool.Shared it stayed with the pool (per thread and per core), and an idle server
/// held gigabytes after a burst of such requests. Runs alone (it measures the process).
/// </summary>
[Collection(OrtGlobalCollection.Name)]
public sealed class DecodedImageMemoryTests(ITestOutputHelper output)
{
    [Fact]
    public void A_100_megapixel_image_gives_its_memory_back_when_disposed_on_any_thread()
    {
        const int side = 9999;
        byte[] png;
        {
            var scanlines = new byte[(1 + side) * side]; // gray, filter 0, black: compresses to a few hundred KB
            png = RawPng.Write(side, side, 8, 0, scanlines);
        }
        using (var small = ImageDecoder.Decode(RawPng.Write(2, 2, 8, 0, new byte[3 * 2]))) Assert.Equal(2, small.Width); // codecs loaded
        long before = TestPaths.ResidentBytes();
        // Four decodes on four threads, as a server's requests land on different pool threads.
        var threads = new Thread[4];
        for (int i = 0; i < threads.Length; i++)
        {
            threads[i] = new Thread(() =>
            {
                using var image = ImageDecoder.Decode(png);
                Assert.Equal(side, image.Height);
                Assert.Equal(0, image.Pixels[^1]);
            });
            threads[i].Start();
            threads[i].Join(); // one at a time: the peak stays one image
        }
        long after = TestPaths.ResidentBytes();
        output.WriteLine($"RSS before {before >> 20} MiB, after four 100-megapixel decodes {after >> 20} MiB ({png.Length >> 10} KiB PNG)");
        Assert.True(after - before < 96L << 20, $"RSS grew by {(after - before) >> 20} MiB after the images were disposed ({before >> 20} -> {after >> 20} MiB)");
    }
}
