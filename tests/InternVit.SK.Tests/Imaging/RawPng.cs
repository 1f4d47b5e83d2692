using System.Buffers.Binary;
using System.IO.Compression;

namespace InternVit.SK.Tests.Imaging;

/// <summary>
/// An independent PNG reader for tests: chunks, zlib (ZLibStream) and the five scanline filters, no libpng. It
/// returns the raw samples, so decoder results can be checked against the file's own values. Non-interlaced only.
/// Also writes minimal PNGs (for headers that libpng must refuse or accept).
/// </summary>
internal static class RawPng
{
    public sealed record Image(int Width, int Height, int BitDepth, int ColorType, int Channels, byte[] Scanlines)
    {
        public int RowBytes => (Width * Channels * BitDepth + 7) / 8;

        /// <summary>Sample <paramref name="channel"/> of pixel (x, y); 8- and 16-bit images only.</summary>
        public int Sample(int x, int y, int channel)
        {
            int offset = y * RowBytes + (x * Channels + channel) * (BitDepth / 8);
            return BitDepth == 16 ? BinaryPrimitives.ReadUInt16BigEndian(Scanlines.AsSpan(offset)) : Scanlines[offset];
        }
    }

    public static Image Read(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        int position = 8, width = 0, height = 0, depth = 0, type = 0;
        using var idat = new MemoryStream();
        while (position < data.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(position));
            string name = System.Text.Encoding.ASCII.GetString(data, position + 4, 4);
            var body = data.AsSpan(position + 8, length);
            if (name == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(body);
                height = BinaryPrimitives.ReadInt32BigEndian(body[4..]);
                depth = body[8];
                type = body[9];
                Assert.Equal(0, body[12]); // not interlaced
            }
            else if (name == "IDAT") idat.Write(body);
            position += 12 + length;
        }
        int channels = type switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => throw new NotSupportedException() };
        var image = new Image(width, height, depth, type, channels, new byte[0]);
        int rowBytes = image.RowBytes, bpp = Math.Max(1, channels * depth / 8);
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        var filtered = new byte[height * (rowBytes + 1)];
        z.ReadExactly(filtered);
        var raw = new byte[height * rowBytes];
        for (int y = 0; y < height; y++)
        {
            int filter = filtered[y * (rowBytes + 1)];
            for (int i = 0; i < rowBytes; i++)
            {
                int x = filtered[y * (rowBytes + 1) + 1 + i];
                int a = i >= bpp ? raw[y * rowBytes + i - bpp] : 0;
                int b = y > 0 ? raw[(y - 1) * rowBytes + i] : 0;
                int c = i >= bpp && y > 0 ? raw[(y - 1) * rowBytes + i - bpp] : 0;
                int predictor = filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => throw new InvalidDataException($"filter {filter}"),
                };
                raw[y * rowBytes + i] = (byte)(x + predictor);
            }
        }
        return image with { Scanlines = raw };
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>A PNG with the given IHDR and one IDAT holding <paramref name="scanlines"/> (filter bytes included) compressed.</summary>
    public static byte[] Write(int width, int height, int bitDepth, int colorType, ReadOnlySpan<byte> scanlines)
    {
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)colorType;
        Chunk(png, "IHDR", ihdr);
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true)) z.Write(scanlines);
        Chunk(png, "IDAT", compressed.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string name, ReadOnlySpan<byte> body)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, body.Length);
        png.Write(word);
        var typed = new byte[4 + body.Length];
        System.Text.Encoding.ASCII.GetBytes(name, typed);
        body.CopyTo(typed.AsSpan(4));
        png.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typed));
        png.Write(word);
    }

    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}
