namespace InternVit.SK.Export;

/// <summary>
/// Blockwise asymmetric quantization of a Linear weight for ONNX Runtime's com.microsoft MatMulNBits. The weight
/// W [N, K] (the checkpoint's [out, in]) is cut along K into blocks of <c>blockSize</c>; each block b of row n gets
/// scale = (max − min) / (2^bits − 1) and zero point zp = round(−min / scale), and stores q = clamp(round(w / scale) + zp),
/// so that w ≈ (q − zp) · scale. Layouts: B [N, blocks, blockSize·bits/8] uint8 with 4-bit values two to a byte (the
/// even element in the low nibble), scales [N · blocks] float32, zero points uint8 [N · ⌈blocks·bits/8⌉] (4-bit ones
/// two to a byte, each row starting on a byte). A last block shorter than blockSize is padded with zeros.
/// </summary>
internal static class BlockQuantizer
{
    public readonly record struct Quantized(byte[] Packed, float[] Scales, byte[] ZeroPoints, int Blocks, int BlobSize);

    public static Quantized Quantize(ReadOnlySpan<float> weight, int n, int k, int bits, int blockSize)
    {
        if (bits is not (4 or 8)) throw new ArgumentOutOfRangeException(nameof(bits), bits, "MatMulNBits supports 4 or 8 bits here");
        if (weight.Length != (long)n * k) throw new ArgumentException($"weight has {weight.Length} values, not {n}x{k}", nameof(weight));
        int blocks = (k + blockSize - 1) / blockSize, blobSize = blockSize * bits / 8;
        int zeroPointBytesPerRow = (blocks * bits + 7) / 8;
        int levels = (1 << bits) - 1;
        var packed = new byte[(long)n * blocks * blobSize];
        var scales = new float[n * blocks];
        var zeroPoints = new byte[n * zeroPointBytesPerRow];
        var q = new byte[blockSize];
        for (int row = 0; row < n; row++)
        {
            var w = weight.Slice(row * k, k);
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize, length = Math.Min(blockSize, k - start);
                var block = w.Slice(start, length);
                float min = 0, max = 0; // the range always holds 0, so padding and exact zeros stay exact
                foreach (float v in block)
                {
                    min = MathF.Min(min, v);
                    max = MathF.Max(max, v);
                }
                float scale = (max - min) / levels;
                int zp = scale == 0 ? 0 : Math.Clamp((int)MathF.Round(-min / scale), 0, levels);
                float inverse = scale == 0 ? 0 : 1 / scale;
                q.AsSpan().Clear();
                for (int i = 0; i < blockSize; i++)
                    q[i] = (byte)Math.Clamp((int)MathF.Round((i < length ? block[i] : 0) * inverse) + zp, 0, levels);
                scales[row * blocks + b] = scale;
                var blob = packed.AsSpan((row * blocks + b) * blobSize, blobSize);
                if (bits == 8)
                {
                    q.CopyTo(blob);
                    zeroPoints[row * zeroPointBytesPerRow + b] = (byte)zp;
                }
                else
                {
                    for (int i = 0; i < blobSize; i++) blob[i] = (byte)(q[2 * i] | q[2 * i + 1] << 4);
                    zeroPoints[row * zeroPointBytesPerRow + b / 2] |= (byte)(b % 2 == 0 ? zp : zp << 4);
                }
            }
        }
        return new Quantized(packed, scales, zeroPoints, blocks, blobSize);
    }
}

/// <summary>
/// Symmetric 8-bit quantization of a Linear weight with one scale per output channel, for ONNX Runtime's com.microsoft
/// DynamicQuantizeMatMul: W [N, K] (the checkpoint's [out, in]) → Wᵀ [K, N] with q = round(w / scale) in −127..127,
/// scale = max |w| of the row / 127, so that w ≈ q · scale and zero stays exact. The values are stored as uint8
/// q + 128 with zero point 128: MLAS's int8 GEMM for uint8 activations × int8 weights on AVX2 without VNNI sums
/// pairs of products in 16 bits with saturation (vpmaddubsw), which measured a logits error of 14.9 and 9/16 greedy
/// agreement on an AVX2-only EPYC; uint8 × uint8 widens first and is exact on every CPU.
/// </summary>
internal static class ChannelQuantizer
{
    public const byte ZeroPoint = 128;

    /// <summary>Wᵀ as uint8 (q + <see cref="ZeroPoint"/>), the scales, and the zero points (all <see cref="ZeroPoint"/>).</summary>
    public readonly record struct Quantized(byte[] Transposed, float[] Scales, byte[] ZeroPoints);

    public static Quantized Quantize(ReadOnlySpan<float> weight, int n, int k)
    {
        if (weight.Length != (long)n * k) throw new ArgumentException($"weight has {weight.Length} values, not {n}x{k}", nameof(weight));
        var transposed = new byte[(long)n * k];
        var scales = new float[n];
        for (int row = 0; row < n; row++)
        {
            var w = weight.Slice(row * k, k);
            float max = 0;
            foreach (float v in w) max = MathF.Max(max, MathF.Abs(v));
            float scale = max / 127, inverse = max == 0 ? 0 : 127 / max;
            scales[row] = scale;
            for (int c = 0; c < k; c++) transposed[(long)c * n + row] = (byte)(ZeroPoint + Math.Clamp((int)MathF.Round(w[c] * inverse), -127, 127));
        }
        var zeroPoints = new byte[n];
        Array.Fill(zeroPoints, ZeroPoint);
        return new Quantized(transposed, scales, zeroPoints);
    }
}
