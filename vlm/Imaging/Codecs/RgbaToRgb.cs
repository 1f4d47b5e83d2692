using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>
/// Turns 4-byte RGBA pixels into 3-byte RGB in place (the RGB pixel <c>i</c> is written at <c>3i</c>, never past
/// the RGBA pixel <c>i</c> it comes from): alpha dropped (as Pillow's <c>convert('RGB')</c>) or composited onto white.
/// </summary>
internal static class RgbaToRgb
{
    /// <summary>Narrows the first <paramref name="pixels"/> RGBA pixels of <paramref name="buffer"/> to RGB.</summary>
    public static void NarrowInPlace(Span<byte> buffer, int pixels, bool compositeOnWhite)
    {
        if (buffer.Length < (long)pixels * 4) throw new ArgumentException("buffer too small for the RGBA pixels", nameof(buffer));
        if (compositeOnWhite) CompositeInPlace(buffer, pixels);
        else DropAlphaInPlace(buffer, pixels);
    }

    private static void DropAlphaInPlace(Span<byte> buffer, int pixels)
    {
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            // 4 pixels in (16 bytes), 12 bytes out; the 16-byte store's last 4 bytes land on RGBA bytes already read.
            var shuffle = Vector128.Create((byte)0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 0, 0, 0, 0);
            ref byte start = ref MemoryMarshal.GetReference(buffer);
            // Block i reads bytes [4i, 4i + 16) and stores [3i, 3i + 16): never past what it has read.
            for (; i + 4 <= pixels; i += 4)
            {
                var rgba = Vector128.LoadUnsafe(ref start, (nuint)(4 * i));
                Vector128.Shuffle(rgba, shuffle).StoreUnsafe(ref start, (nuint)(3 * i));
            }
        }
        for (int s = 4 * i, d = 3 * i; i < pixels; i++, s += 4, d += 3)
        {
            buffer[d] = buffer[s];
            buffer[d + 1] = buffer[s + 1];
            buffer[d + 2] = buffer[s + 2];
        }
    }

    private static void CompositeInPlace(Span<byte> buffer, int pixels)
    {
        for (int i = 0, s = 0, d = 0; i < pixels; i++, s += 4, d += 3)
        {
            int r = buffer[s], g = buffer[s + 1], b = buffer[s + 2], a = buffer[s + 3];
            if (a != 255)
            {
                int white = 255 * (255 - a) + 127;
                r = (r * a + white) / 255;
                g = (g * a + white) / 255;
                b = (b * a + white) / 255;
            }
            buffer[d] = (byte)r;
            buffer[d + 1] = (byte)g;
            buffer[d + 2] = (byte)b;
        }
    }
}
