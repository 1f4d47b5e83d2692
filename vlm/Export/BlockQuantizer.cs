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
/// Symmetric quantization of a Linear weight to 7 bits with one scale per output channel, for ONNX Runtime's
/// com.microsoft DynamicQuantizeMatMul: W [N, K] (the checkpoint's [out, in]) → Wᵀ [K, N] int8 with
/// q = round(w / scale) in −63..63, scale = max |w| of the row / 63, so that w ≈ q · scale and zero stays exact (no zero
/// point). Why 7 bits: DynamicQuantizeMatMul quantizes the activations to uint8, and MLAS's uint8 × int8 kernel on
/// AVX2 CPUs without VNNI adds pairs of products in 16 bits with saturation (vpmaddubsw): with weights up to 127 a pair
/// reaches 2 · 255 · 127 = 64770 and is clipped to 32767, which cost int4-prefill8 a logits error of 14.9 and 9/16
/// greedy agreement on an AVX2-only EPYC. With |q| ≤ 63 a pair stays below 2 · 255 · 63 = 32130, exact on every CPU,
/// and the fast int8 kernels (AVX2, VNNI, AMX) stay in use; this is what ONNX Runtime's own quantizer calls reduce_range.
/// </summary>
internal static class ChannelQuantizer
{
    /// <summary>The largest |q|.</summary>
    public const int MaxLevel = 63;

    public readonly record struct Quantized(sbyte[] Transposed, float[] Scales);

    public static Quantized Quantize(ReadOnlySpan<float> weight, int n, int k)
    {
        if (weight.Length != (long)n * k) throw new ArgumentException($"weight has {weight.Length} values, not {n}x{k}", nameof(weight));
        var transposed = new sbyte[(long)n * k];
        var scales = new float[n];
        for (int row = 0; row < n; row++)
        {
            var w = weight.Slice(row * k, k);
            float max = 0;
            foreach (float v in w) max = MathF.Max(max, MathF.Abs(v));
            float scale = max / MaxLevel, inverse = max == 0 ? 0 : MaxLevel / max;
            scales[row] = scale;
            for (int c = 0; c < k; c++) transposed[(long)c * n + row] = (sbyte)Math.Clamp((int)MathF.Round(w[c] * inverse), -MaxLevel, MaxLevel);
        }
        return new Quantized(transposed, scales);
    }
}
