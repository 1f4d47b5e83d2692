namespace InternVit.SK.Imaging.Tiling;

/// <summary>
/// torchvision's <c>ToTensor()</c> + <c>Normalize(IMAGENET_MEAN, IMAGENET_STD)</c> on one RGB tile, bit-exact:
/// <c>((float)u8 / 255f - mean_f32[c]) / std_f32[c]</c> in float32 (a division by 255, not a multiplication by
/// 1/255). The 256 possible values per channel are computed once.
/// </summary>
internal static class PixelNormalizer
{
    private static readonly float[] Mean = [0.485f, 0.456f, 0.406f];
    private static readonly float[] Std = [0.229f, 0.224f, 0.225f];

    /// <summary>256 values per channel, channel-major.</summary>
    private static readonly float[] Table = BuildTable();

    private static float[] BuildTable()
    {
        var table = new float[3 * 256];
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++)
                table[c * 256 + v] = Normalize(v, c);
        return table;
    }

    /// <summary>The normalised value of one sample.</summary>
    public static float Normalize(int value, int channel) => ((float)value / 255f - Mean[channel]) / Std[channel];

    /// <summary>
    /// One <paramref name="size"/> x <paramref name="size"/> tile from HWC bytes (rows <paramref name="sourceStride"/>
    /// bytes apart) to CHW floats.
    /// </summary>
    public static void Normalize(ReadOnlySpan<byte> source, int sourceStride, int size, Span<float> destination)
    {
        int plane = size * size;
        var table = Table.AsSpan();
        var red = table[..256];
        var green = table.Slice(256, 256);
        var blue = table.Slice(512, 256);
        var r = destination[..plane];
        var g = destination.Slice(plane, plane);
        var b = destination.Slice(2 * plane, plane);
        for (int y = 0; y < size; y++)
        {
            var row = source.Slice(y * sourceStride, size * 3);
            int o = y * size;
            for (int x = 0, s = 0; x < size; x++, s += 3)
            {
                r[o + x] = red[row[s]];
                g[o + x] = green[row[s + 1]];
                b[o + x] = blue[row[s + 2]];
            }
        }
    }
}
