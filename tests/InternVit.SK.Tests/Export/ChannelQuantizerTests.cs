using InternVit.SK.Export;

namespace InternVit.SK.Tests.Export;

public sealed class ChannelQuantizerTests
{
    [Fact]
    public void Stores_the_transpose_in_7_bits_with_one_symmetric_scale_per_output_channel()
    {
        const int n = 3, k = 5;
        float[] w =
        [
            0.5f, -1.0f, 0.25f, 0f, 0.9f,
            0f, 0f, 0f, 0f, 0f,
            100f, -3f, 7f, -100f, 0.01f,
        ];
        var q = ChannelQuantizer.Quantize(w, n, k);
        Assert.Equal(n * k, q.Transposed.Length);
        Assert.Equal([1.0f / 63, 0f, 100f / 63], q.Scales);
        for (int row = 0; row < n; row++)
            for (int c = 0; c < k; c++)
            {
                float restored = q.Transposed[c * n + row] * q.Scales[row];
                Assert.InRange(Math.Abs(restored - w[row * k + c]), 0, q.Scales[row] / 2 + 1e-6f);
            }
        Assert.Equal(-63, q.Transposed[1 * n + 0]); // the largest magnitude maps to ±63 (7 bits, see ChannelQuantizer)
        Assert.Equal(63, q.Transposed[0 * n + 2]);
        Assert.Equal(0, q.Transposed[3 * n + 0]);   // zero stays exact
    }
}
