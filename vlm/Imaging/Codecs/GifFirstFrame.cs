namespace InternVit.SK.Imaging.Codecs;

/// <summary>
/// The first frame of a GIF as Pillow sees it: its colour table (local, else global) and transparent index, read by
/// walking the blocks up to the end of that frame's image data.
/// </summary>
internal readonly struct GifFirstFrame
{
    private readonly int _paletteOffset;
    private readonly int _paletteEntries;

    private GifFirstFrame(Completeness completeness, int paletteOffset, int paletteEntries, int transparentIndex)
    {
        Completeness = completeness;
        _paletteOffset = paletteOffset;
        _paletteEntries = paletteEntries;
        TransparentIndex = transparentIndex;
    }

    /// <summary>Whether the data holds the whole first frame.</summary>
    public Completeness Completeness { get; }

    /// <summary>The frame's transparent palette index (graphic control extension), or -1.</summary>
    public int TransparentIndex { get; }

    /// <summary>
    /// The RGB of palette entry <paramref name="index"/> as Pillow's <c>convert('RGB')</c> gives it: the entry of the
    /// frame's colour table, black past its end, and the gray level <paramref name="index"/> when there is no table
    /// (Pillow opens such a GIF as mode L).
    /// </summary>
    public (byte R, byte G, byte B) Colour(ReadOnlySpan<byte> gif, int index)
    {
        if (_paletteEntries == 0) return ((byte)index, (byte)index, (byte)index);
        if (index >= _paletteEntries) return (0, 0, 0);
        var entry = gif.Slice(_paletteOffset + 3 * index, 3);
        return (entry[0], entry[1], entry[2]);
    }

    public static GifFirstFrame Read(ReadOnlySpan<byte> gif)
    {
        const int ScreenDescriptorEnd = 13;
        if (gif.Length < ScreenDescriptorEnd) return new(Completeness.Truncated, 0, 0, -1);
        int paletteOffset = 0, paletteEntries = 0, transparent = -1;
        int position = ScreenDescriptorEnd;
        byte flags = gif[10];
        if ((flags & 0x80) != 0)
        {
            paletteOffset = position;
            paletteEntries = 2 << (flags & 7);
            position += 3 * paletteEntries;
        }
        while (true)
        {
            if (position >= gif.Length) return new(Completeness.Truncated, 0, 0, -1);
            byte introducer = gif[position++];
            if (introducer == 0x21) // extension: label, then sub-blocks
            {
                if (position >= gif.Length) return new(Completeness.Truncated, 0, 0, -1);
                byte label = gif[position++];
                bool first = true;
                while (true)
                {
                    if (position >= gif.Length) return new(Completeness.Truncated, 0, 0, -1);
                    int size = gif[position++];
                    if (size == 0) break;
                    if (position + size > gif.Length) return new(Completeness.Truncated, 0, 0, -1);
                    if (label == 0xF9 && first && size >= 4) // graphic control: packed, delay (2), transparent index
                        transparent = (gif[position] & 1) != 0 ? gif[position + 3] : -1;
                    position += size;
                    first = false;
                }
            }
            else if (introducer == 0x2C) // image descriptor: left, top, width, height (2 each), packed
            {
                if (position + 9 > gif.Length) return new(Completeness.Truncated, 0, 0, -1);
                byte packed = gif[position + 8];
                position += 9;
                if ((packed & 0x80) != 0)
                {
                    paletteOffset = position;
                    paletteEntries = 2 << (packed & 7);
                    position += 3 * paletteEntries;
                }
                position++; // LZW minimum code size
                while (true)
                {
                    if (position >= gif.Length) return new(Completeness.Truncated, 0, 0, -1);
                    int size = gif[position++];
                    if (size == 0) return new(Completeness.Complete, paletteOffset, paletteEntries, transparent);
                    position += size;
                }
            }
            else
            {
                return new(Completeness.Malformed, 0, 0, -1); // the trailer before any image, or garbage
            }
        }
    }
}
