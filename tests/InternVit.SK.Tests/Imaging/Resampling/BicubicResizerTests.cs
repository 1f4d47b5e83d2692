using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Resampling;

namespace InternVit.SK.Tests.Imaging.Resampling;

public class BicubicResizerTests
{
    /// <summary>
    /// A plain scalar transcription of the rules in the goldens README (section 2, "How Pillow resizes"), written
    /// separately from the product: one output sample at a time, no vectors, no pooling.
    /// </summary>
    private static byte[] Reference(byte[] src, int w, int h, int outW, int outH)
    {
        static (int Min, int[] Weights)[] Axis(int inSize, int outSize)
        {
            double scale = (double)inSize / outSize, filterScale = Math.Max(scale, 1.0), support = 2.0 * filterScale;
            var result = new (int, int[])[outSize];
            for (int i = 0; i < outSize; i++)
            {
                double center = (i + 0.5) * scale;
                int min = Math.Max((int)(center - support + 0.5), 0), max = Math.Min((int)(center + support + 0.5), inSize);
                var w = new double[max - min];
                for (int x = min; x < max; x++)
                {
                    double t = Math.Abs((x - center + 0.5) / filterScale);
                    w[x - min] = t < 1 ? (1.5 * t - 2.5) * t * t + 1 : t < 2 ? -0.5 * (((t - 5) * t + 8) * t - 4) : 0;
                }
                double sum = w.Sum();
                result[i] = (min, w.Select(v => v / sum).Select(v => (int)(v < 0 ? v * 4194304 - 0.5 : v * 4194304 + 0.5)).ToArray());
            }
            return result;
        }
        static byte Clip(long acc) => (byte)Math.Clamp(acc >> 22, 0, 255);

        byte[] current = src;
        int cw = w;
        if (outW != w)
        {
            var ax = Axis(w, outW);
            var next = new byte[outW * h * 3];
            for (int y = 0; y < h; y++)
                for (int i = 0; i < outW; i++)
                    for (int c = 0; c < 3; c++)
                    {
                        long acc = 1 << 21;
                        for (int k = 0; k < ax[i].Weights.Length; k++) acc += current[(y * w + ax[i].Min + k) * 3 + c] * (long)ax[i].Weights[k];
                        next[(y * outW + i) * 3 + c] = Clip(acc);
                    }
            current = next;
            cw = outW;
        }
        if (outH != h)
        {
            var ay = Axis(h, outH);
            var next = new byte[cw * outH * 3];
            for (int j = 0; j < outH; j++)
                for (int x = 0; x < cw * 3; x++)
                {
                    long acc = 1 << 21;
                    for (int k = 0; k < ay[j].Weights.Length; k++) acc += current[(ay[j].Min + k) * cw * 3 + x] * (long)ay[j].Weights[k];
                    next[j * cw * 3 + x] = Clip(acc);
                }
            current = next;
        }
        return current;
    }

    public static TheoryData<int, int, int, int> Sizes => new()
    {
        { 50, 30, 1344, 896 },   // heavy upscale
        { 997, 211, 448, 448 },  // downscale, odd sizes, thumbnail-like
        { 640, 480, 1792, 1344 },
        { 3001, 17, 448, 448 },  // wide kernel horizontally, upscale vertically
        { 300, 301, 300, 896 },  // vertical only
        { 301, 300, 896, 300 },  // horizontal only
        { 1, 1, 5, 3 },
        { 7, 5, 1, 1 },
        { 33, 29, 33, 29 },      // identity
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Equals_the_scalar_transcription_of_pillow(int w, int h, int outW, int outH)
    {
        var random = new Random(w * 7919 + h);
        var src = new byte[w * h * 3];
        random.NextBytes(src);
        // Smooth runs plus extremes, so clamping at both ends is exercised.
        for (int i = 0; i < src.Length; i += 97) src[i] = (byte)(i % 2 == 0 ? 0 : 255);
        var actual = new byte[outW * outH * 3];
        BicubicResizer.Resize(src, w, h, actual, outW, outH);
        Assert.Equal(Reference(src, w, h, outW, outH), actual);
    }

    /// <summary>The resizer alone, on Pillow's own decode of the lossy sources: the golden tiles come out exactly.</summary>
    [Theory]
    [InlineData("photo_jpeg_1024x768")]
    [InlineData("photo_webp_800x450")]
    [InlineData("exif_rot6_600x400")]
    public void Tiles_from_pillows_decode_match_the_golden_hashes(string id)
    {
        var (shape, rgb) = PreprocessGoldens.ReadGz(id + ".decoded_rgb.safetensors.gz", "decoded_rgb");
        using var image = DecodedImage.FromRgb24((int)shape[1], (int)shape[0], rgb);
        var tiler = new InternVit.SK.Imaging.Tiling.DynamicTiler();
        var tiles = new byte[tiler.MaxPixelValuesLength];
        var grid = tiler.TileBytes(image, tiles);
        var hashes = PreprocessGoldens.TileHashes(id);
        Assert.Equal(hashes.Length, grid.TileCount);
        for (int t = 0; t < grid.TileCount; t++)
            Assert.Equal(hashes[t], PreprocessGoldens.Sha256(tiles.AsSpan(t * tiler.FloatsPerTile, tiler.FloatsPerTile)));
    }

    [Fact]
    public void Cancellation_stops_a_long_resize()
    {
        var src = new byte[2000 * 1500 * 3];
        var dst = new byte[1792 * 1344 * 3];
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => BicubicResizer.Resize(src, 2000, 1500, dst, 1792, 1344, cancelled.Token));
    }
}
