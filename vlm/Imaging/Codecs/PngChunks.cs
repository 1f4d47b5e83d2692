using System.Buffers.Binary;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>Walks a PNG's chunks to IEND, to tell a cut-off file from a damaged one when Skia stops early.</summary>
internal static class PngChunks
{
    private static ReadOnlySpan<byte> EndChunk => [0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82];

    public static Completeness Walk(ReadOnlySpan<byte> png)
    {
        long position = 8; // after the signature
        while (true)
        {
            if (position + 8 > png.Length) return Completeness.Truncated;
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png[(int)position..]);
            if (length > int.MaxValue) return Completeness.Malformed;
            if (position + 12 + length > png.Length) return Completeness.Truncated;
            if (png.Slice((int)position + 4, 4).SequenceEqual("IEND"u8)) return Completeness.Complete;
            position += 12 + length;
        }
    }

    /// <summary>Whether the data ends with the IEND chunk.</summary>
    public static bool EndsWithEnd(ReadOnlySpan<byte> png) => png.EndsWith(EndChunk);
}
