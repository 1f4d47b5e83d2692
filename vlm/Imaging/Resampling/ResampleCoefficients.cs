using System.Buffers;

namespace InternVit.SK.Imaging.Resampling;

/// <summary>
/// Pillow's bicubic coefficients for one axis (<c>precompute_coeffs</c> + <c>normalize_coeffs_8bpc</c> in
/// <c>libImaging/Resample.c</c>): Keys cubic with a = -0.5, support 2 widened by the reduction factor when
/// downscaling, weights normalised to sum 1 in double, then fixed point with 22 fractional bits rounded half away
/// from zero. Pooled: dispose to return the arrays.
/// </summary>
internal sealed class ResampleCoefficients : IDisposable
{
    public const int PrecisionBits = 22;

    private ResampleCoefficients(int outSize, int stride, int lanes)
    {
        OutSize = outSize;
        Stride = stride;
        Lanes = lanes;
        Bounds = ArrayPool<int>.Shared.Rent(outSize * 2);
        Weights = ArrayPool<int>.Shared.Rent(outSize * stride);
    }

    public int OutSize { get; }

    /// <summary>Weights per output index (the maximum tap count, times <see cref="Lanes"/>).</summary>
    public int Stride { get; }

    /// <summary>How many times each weight is repeated (4 for the RGBX horizontal pass, else 1).</summary>
    public int Lanes { get; }

    /// <summary>For output i: first input index at [2i], tap count at [2i+1].</summary>
    public int[] Bounds { get; }

    /// <summary>Fixed-point weights; output i's taps start at <c>i * Stride</c>, zero beyond its tap count.</summary>
    public int[] Weights { get; }

    /// <summary>
    /// Coefficients for resizing <paramref name="inSize"/> samples to <paramref name="outSize"/>. With
    /// <paramref name="lanes"/> = 4 each weight is stored four times and the tap count rounded up to even, for the
    /// two-taps-per-vector horizontal pass.
    /// </summary>
    public static ResampleCoefficients Compute(int inSize, int outSize, int lanes = 1)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = 2.0 * filterScale;
        int kernelSize = (int)Math.Ceiling(support) * 2 + 1;
        int taps = lanes == 1 ? kernelSize : (kernelSize + 1) & ~1;
        var result = new ResampleCoefficients(outSize, taps * lanes, lanes);
        result.Weights.AsSpan(0, outSize * result.Stride).Clear();
        double[] exact = ArrayPool<double>.Shared.Rent(kernelSize);
        try
        {
            double inverseScale = 1.0 / filterScale;
            for (int i = 0; i < outSize; i++)
            {
                double center = (i + 0.5) * scale;
                int min = (int)(center - support + 0.5);
                if (min < 0) min = 0;
                int max = (int)(center + support + 0.5);
                if (max > inSize) max = inSize;
                int count = max - min;
                double sum = 0.0;
                for (int x = 0; x < count; x++)
                {
                    double w = Cubic((x + min - center + 0.5) * inverseScale);
                    exact[x] = w;
                    sum += w;
                }
                int row = i * result.Stride;
                for (int x = 0; x < count; x++)
                {
                    double w = sum != 0.0 ? exact[x] / sum : exact[x];
                    int fixedPoint = w < 0 ? (int)(-0.5 + w * (1 << PrecisionBits)) : (int)(0.5 + w * (1 << PrecisionBits));
                    for (int lane = 0; lane < lanes; lane++) result.Weights[row + x * lanes + lane] = fixedPoint;
                }
                result.Bounds[2 * i] = min;
                result.Bounds[2 * i + 1] = count;
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(exact);
        }
        return result;
    }

    /// <summary>Keys cubic convolution kernel with a = -0.5 (Pillow's <c>bicubic_filter</c>).</summary>
    private static double Cubic(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    public void Dispose()
    {
        ArrayPool<int>.Shared.Return(Bounds);
        ArrayPool<int>.Shared.Return(Weights);
    }
}
