using System.Buffers.Binary;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>
/// Walks a JPEG's marker segments and entropy-coded data from SOI to EOI. Skia reports a cut-off progressive JPEG as
/// decoded (libjpeg fills in the missing scans), where Pillow raises "image file is truncated": this walk is how the
/// decoder notices. Bytes after EOI are ignored, as libjpeg ignores them.
/// </summary>
internal static class JpegMarkers
{
    public static Completeness Walk(ReadOnlySpan<byte> jpeg)
    {
        int position = 2; // after SOI
        while (true)
        {
            if (position >= jpeg.Length) return Completeness.Truncated;
            if (jpeg[position] != 0xFF) return Completeness.Malformed;
            while (position < jpeg.Length && jpeg[position] == 0xFF) position++; // fill bytes
            if (position >= jpeg.Length) return Completeness.Truncated;
            byte marker = jpeg[position++];
            if (marker == 0xD9) return Completeness.Complete;                  // EOI
            if (marker is 0x01 or >= 0xD0 and <= 0xD8) continue;                // TEM, RSTn, SOI: no length
            if (marker == 0x00) return Completeness.Malformed;
            if (position + 2 > jpeg.Length) return Completeness.Truncated;
            int length = BinaryPrimitives.ReadUInt16BigEndian(jpeg[position..]);
            if (length < 2) return Completeness.Malformed;
            position += length;
            if (position > jpeg.Length) return Completeness.Truncated;
            if (marker == 0xDA)                                                  // SOS: entropy-coded data follows
            {
                position = EndOfScan(jpeg, position);
                if (position < 0) return Completeness.Truncated;
            }
        }
    }

    /// <summary>The offset of the marker that ends the scan starting at <paramref name="position"/>, or -1 if the data ends first.</summary>
    private static int EndOfScan(ReadOnlySpan<byte> jpeg, int position)
    {
        while (true)
        {
            int found = jpeg[position..].IndexOf((byte)0xFF);
            if (found < 0) return -1;
            position += found;
            if (position + 1 >= jpeg.Length) return -1;
            byte next = jpeg[position + 1];
            if (next == 0x00 || next is >= 0xD0 and <= 0xD7) position += 2; // stuffed byte or restart marker
            else if (next == 0xFF) position += 1;                              // fill byte before a marker
            else return position;
        }
    }

    /// <summary>
    /// Whether the frame is progressive (SOF2, SOF6, SOF10, SOF14), read from the header segments before the first scan;
    /// true as well when the header cannot be read, so that such data takes the one-pass decode.
    /// </summary>
    public static bool IsProgressive(ReadOnlySpan<byte> jpeg)
    {
        int position = 2; // after SOI
        while (position + 4 <= jpeg.Length && jpeg[position] == 0xFF)
        {
            byte marker = jpeg[position + 1];
            if (marker == 0xFF) { position++; continue; }                       // fill byte
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
                return marker is 0xC2 or 0xC6 or 0xCA or 0xCE;                   // the frame header
            if (marker == 0xDA) return true;                                      // a scan before any frame header
            position += 2 + BinaryPrimitives.ReadUInt16BigEndian(jpeg[(position + 2)..]);
        }
        return true;
    }

    /// <summary>Whether the data ends with an EOI marker (a damaged file usually still does; a cut-off one does not).</summary>
    public static bool EndsWithEndOfImage(ReadOnlySpan<byte> jpeg) => jpeg.EndsWith((ReadOnlySpan<byte>)[0xFF, 0xD9]);
}
