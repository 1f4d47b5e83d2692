using System.Buffers.Binary;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>The facts the decoder reads from a WebP's RIFF header.</summary>
internal static class WebPRiff
{
    /// <summary>A RIFF size larger than the data means the file was cut off.</summary>
    public static bool IsTruncated(ReadOnlySpan<byte> webp) =>
        webp.Length < 12 || BinaryPrimitives.ReadUInt32LittleEndian(webp[4..]) + 8L > webp.Length;

    /// <summary>The VP8X header's animation flag.</summary>
    public static bool IsAnimated(ReadOnlySpan<byte> webp) =>
        webp.Length >= 21 && webp.Slice(12, 4).SequenceEqual("VP8X"u8) && (webp[20] & 0x02) != 0;
}
