using System.Buffers.Binary;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>The fields of a BMP's headers that decide where Skia's result differs from Pillow's.</summary>
internal readonly struct BmpHeader
{
    private const int FileHeaderSize = 14;
    private const uint Rle8 = 1, Rle4 = 2, Bitfields = 3;

    private BmpHeader(long width, long height, int bitsPerPixel, uint compression, int paletteOffset, int paletteEntrySize, long expectedLength, (uint R, uint G, uint B) masks)
    {
        Width = width;
        Height = height;
        BitsPerPixel = bitsPerPixel;
        Compression = compression;
        PaletteOffset = paletteOffset;
        PaletteEntrySize = paletteEntrySize;
        ExpectedLength = expectedLength;
        Masks = masks;
    }

    /// <summary>Width in pixels as the header declares it (0 when the header is cut).</summary>
    public long Width { get; }

    /// <summary>Height in pixels (the absolute value: negative means rows top to bottom).</summary>
    public long Height { get; }

    public int BitsPerPixel { get; }

    public uint Compression { get; }

    /// <summary>Where the colour table starts; entries are B, G, R(, reserved).</summary>
    public int PaletteOffset { get; }

    /// <summary>4, or 3 for the OS/2 1.x core header.</summary>
    public int PaletteEntrySize { get; }

    /// <summary>The length the headers declare the file to have (0 when they do not say).</summary>
    public long ExpectedLength { get; }

    /// <summary>The red, green and blue masks of a 16-bit image (5-5-5 unless the file gives bitfields).</summary>
    public (uint R, uint G, uint B) Masks { get; }

    /// <summary>RLE-compressed: Skia leaves skipped pixels transparent, where Pillow gives them palette index 0.</summary>
    public bool IsRunLength => Compression is Rle8 or Rle4;

    /// <summary>16 bits per pixel: Skia rounds 5/6-bit samples to 8 bits, Pillow truncates (<c>v * 255 / 31</c>).</summary>
    public bool Is16Bit => BitsPerPixel == 16;

    /// <summary>Palette entry 0 as RGB (black when the file has no colour table).</summary>
    public (byte R, byte G, byte B) FirstPaletteEntry(ReadOnlySpan<byte> bmp) =>
        PaletteOffset + 3 <= bmp.Length ? (bmp[PaletteOffset + 2], bmp[PaletteOffset + 1], bmp[PaletteOffset]) : ((byte)0, (byte)0, (byte)0);

    /// <summary>Reads the headers; the sniffer has checked that the first 18 bytes are there.</summary>
    public static BmpHeader Read(ReadOnlySpan<byte> bmp)
    {
        uint declaredSize = BinaryPrimitives.ReadUInt32LittleEndian(bmp[2..]);
        int infoSize = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(bmp[FileHeaderSize..]), 1024);
        bool core = infoSize == 12;
        int fieldsEnd = core ? FileHeaderSize + 12 : FileHeaderSize + 40;
        if (bmp.Length < fieldsEnd) return new(0, 0, 0, 0, 0, 4, declaredSize, (0x7C00, 0x3E0, 0x1F));
        uint pixelOffset = BinaryPrimitives.ReadUInt32LittleEndian(bmp[10..]);
        long width, height;
        int bits;
        uint compression = 0;
        if (core)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(bmp[18..]);
            height = BinaryPrimitives.ReadUInt16LittleEndian(bmp[20..]);
            bits = BinaryPrimitives.ReadUInt16LittleEndian(bmp[24..]);
        }
        else
        {
            width = BinaryPrimitives.ReadInt32LittleEndian(bmp[18..]);
            height = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(bmp[22..]));
            bits = BinaryPrimitives.ReadUInt16LittleEndian(bmp[28..]);
            compression = BinaryPrimitives.ReadUInt32LittleEndian(bmp[30..]);
        }
        var masks = (R: 0x7C00u, G: 0x3E0u, B: 0x1Fu);
        int paletteOffset = FileHeaderSize + infoSize;
        if (compression == Bitfields)
        {
            // The masks follow a 40-byte header, and sit at the same offset inside the larger (V2..V5) headers.
            const int MasksOffset = FileHeaderSize + 40;
            if (bmp.Length >= MasksOffset + 12)
                masks = (BinaryPrimitives.ReadUInt32LittleEndian(bmp[MasksOffset..]),
                         BinaryPrimitives.ReadUInt32LittleEndian(bmp[(MasksOffset + 4)..]),
                         BinaryPrimitives.ReadUInt32LittleEndian(bmp[(MasksOffset + 8)..]));
            if (infoSize == 40) paletteOffset += 12;
        }
        long expected = declaredSize;
        if (compression is 0 or Bitfields && width > 0 && bits > 0)
            expected = Math.Max(expected, pixelOffset + (width * bits + 31) / 32 * 4 * height);
        return new(width, height, bits, compression, paletteOffset, core ? 3 : 4, expected, masks);
    }
}
