namespace InternVit.SK.Imaging.Codecs;

/// <summary>Turns 4-byte RGBA pixels into 3-byte RGB: alpha dropped (as Pillow's <c>convert('RGB')</c>) or composited onto white.</summary>
internal static class RgbaToRgb
{
    public static void Convert(ReadOnlySpan<byte> rgba, Span<byte> rgb, bool compositeOnWhite)
    {
        int pixels = rgb.Length / 3;
        if (rgba.Length < pixels * 4) throw new ArgumentException("RGBA buffer too small", nameof(rgba));
        for (int i = 0, s = 0, d = 0; i < pixels; i++, s += 4, d += 3)
        {
            byte r = rgba[s], g = rgba[s + 1], b = rgba[s + 2];
            if (compositeOnWhite)
            {
                int a = rgba[s + 3], white = 255 * (255 - a) + 127;
                r = (byte)((r * a + white) / 255);
                g = (byte)((g * a + white) / 255);
                b = (byte)((b * a + white) / 255);
            }
            rgb[d] = r;
            rgb[d + 1] = g;
            rgb[d + 2] = b;
        }
    }
}
