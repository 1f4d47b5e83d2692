namespace InternVit.SK.Text;

/// <summary>
/// GPT-2's byte-to-unicode table (<c>bytes_to_unicode</c>): each byte 0..255 is written as one printable character,
/// so byte-level BPE vocabularies are plain strings. Printable Latin-1 bytes map to themselves; the other 68 bytes map
/// to U+0100 upwards in byte order (space is <c>Ġ</c> U+0120, line feed is <c>Ċ</c> U+010A).
/// </summary>
internal static class ByteLevel
{
    /// <summary>The character for each byte.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>The byte for each character of the alphabet (index: char code below 0x144), -1 for characters outside it.</summary>
    private static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[0x144];
        Array.Fill(table, (short)-1);
        for (int b = 0; b < 256; b++) table[ByteToChar[b]] = (short)b;
        return table;
    }

    /// <summary>The byte that <paramref name="c"/> stands for, or -1 when it is not in the alphabet.</summary>
    public static int ToByte(char c) => c < CharToByte.Length ? CharToByte[c] : -1;

    /// <summary>
    /// The bytes a token string stands for, as the ByteLevel decoder computes them: each character mapped back to its
    /// byte; a token with any character outside the alphabet (an added token such as <c>a b</c>) is taken verbatim as UTF-8.
    /// </summary>
    public static byte[] TokenBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            int b = ToByte(token[i]);
            if (b < 0) return System.Text.Encoding.UTF8.GetBytes(token);
            bytes[i] = (byte)b;
        }
        return bytes;
    }
}
