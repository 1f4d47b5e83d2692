namespace InternVit.SK.Tests.Onnx;

/// <summary>Plain double-precision implementations of the ops under test, written from their definitions.</summary>
internal static class Reference
{
    public static float[] RandomFloats(int count, int seed, double scale = 1.0)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return values;
    }

    /// <summary>y[m, n] = sum_k a[m, k] w[k, n] + b[n].</summary>
    public static float[] MatMulAdd(float[] a, float[] w, float[] b, int m, int k, int n)
    {
        var y = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = b[j];
                for (int t = 0; t < k; t++) sum += (double)a[i * k + t] * w[t * n + j];
                y[i * n + j] = (float)sum;
            }
        return y;
    }

    /// <summary>LayerNorm over rows of width <paramref name="width"/>: (x - mean) / sqrt(var + eps) * g + b (biased variance).</summary>
    public static float[] LayerNorm(float[] x, float[] gamma, float[]? beta, int width, double eps)
    {
        var y = new float[x.Length];
        for (int r = 0; r < x.Length / width; r++)
        {
            double mean = 0, variance = 0;
            for (int i = 0; i < width; i++) mean += x[r * width + i];
            mean /= width;
            for (int i = 0; i < width; i++) variance += Math.Pow(x[r * width + i] - mean, 2);
            variance /= width;
            for (int i = 0; i < width; i++)
                y[r * width + i] = (float)((x[r * width + i] - mean) / Math.Sqrt(variance + eps) * gamma[i] + (beta?[i] ?? 0));
        }
        return y;
    }

    /// <summary>erf by its Maclaurin series (accurate to ~1e-12 for |x| ≤ 4).</summary>
    public static double Erf(double x)
    {
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++)
        {
            double contribution = term / (2 * n + 1);
            sum += contribution;
            if (Math.Abs(contribution) < 1e-17) break;
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    public static float GeluExact(float x) => (float)(0.5 * x * (1 + Erf(x / Math.Sqrt(2))));

    public static float[] Softmax(float[] x, int width)
    {
        var y = new float[x.Length];
        for (int r = 0; r < x.Length / width; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int i = 0; i < width; i++) max = Math.Max(max, x[r * width + i]);
            for (int i = 0; i < width; i++) sum += Math.Exp(x[r * width + i] - max);
            for (int i = 0; i < width; i++) y[r * width + i] = (float)(Math.Exp(x[r * width + i] - max) / sum);
        }
        return y;
    }

    /// <summary>NCHW convolution without padding or dilation.</summary>
    public static float[] Conv2d(float[] x, int c, int h, int w, float[] weight, float[] bias, int outChannels, int kernel, int stride)
    {
        int oh = (h - kernel) / stride + 1, ow = (w - kernel) / stride + 1;
        var y = new float[outChannels * oh * ow];
        for (int o = 0; o < outChannels; o++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    double sum = bias[o];
                    for (int ch = 0; ch < c; ch++)
                        for (int ki = 0; ki < kernel; ki++)
                            for (int kj = 0; kj < kernel; kj++)
                                sum += (double)x[(ch * h + i * stride + ki) * w + j * stride + kj] * weight[((o * c + ch) * kernel + ki) * kernel + kj];
                    y[(o * oh + i) * ow + j] = (float)sum;
                }
        return y;
    }

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs(expected[i] - actual[i]);
            if (!(diff <= worst)) { worst = diff; at = i; }
        }
        if (worst > tolerance)
            Assert.Fail($"max abs diff {worst:E3} at {at} (expected {expected[at]}, got {actual[at]}) exceeds {tolerance:E1}");
    }
}
