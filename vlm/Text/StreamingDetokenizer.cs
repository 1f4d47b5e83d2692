using System.Text;

namespace InternVit.SK.Text;

/// <summary>
/// Turns generated token ids into text as they arrive. A token can end inside a multi-byte UTF-8 character (byte-level
/// BPE splits emoji and CJK); the incomplete trailing bytes are held back until a later token completes them, so no
/// half character and no premature U+FFFD is ever emitted. Bytes that can never become valid UTF-8 are emitted as U+FFFD
/// right away, one per maximal invalid subsequence. The concatenation of every <see cref="Append"/> and the final
/// <see cref="Flush"/> equals <see cref="Qwen2Tokenizer.Decode(ReadOnlySpan{int}, bool)"/> of all the ids. One instance per sequence; not thread-safe.
/// </summary>
public sealed class StreamingDetokenizer
{
    private readonly Qwen2Tokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly byte[] _pending = new byte[4];
    private int _pendingLength;
    private byte[] _buffer = new byte[64];

    internal StreamingDetokenizer(Qwen2Tokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one token; returns the text it completes (empty while a character is still incomplete).</summary>
    public string Append(int id)
    {
        if (!_tokenizer.TryTokenBytes(id, _skipSpecialTokens, out var bytes) || bytes.Length == 0) return "";
        int total = _pendingLength + bytes.Length;
        if (_buffer.Length < total) _buffer = new byte[Math.Max(total, _buffer.Length * 2)];
        _pending.AsSpan(0, _pendingLength).CopyTo(_buffer);
        bytes.CopyTo(_buffer.AsSpan(_pendingLength));
        int complete = total - IncompleteTailLength(_buffer.AsSpan(0, total));
        _pendingLength = total - complete;
        _buffer.AsSpan(complete, _pendingLength).CopyTo(_pending);
        return complete == 0 ? "" : Encoding.UTF8.GetString(_buffer, 0, complete);
    }

    /// <summary>Ends the sequence: held-back bytes that were never completed come out as U+FFFD. The detokenizer is then empty.</summary>
    public string Flush()
    {
        if (_pendingLength == 0) return "";
        string text = Encoding.UTF8.GetString(_pending, 0, _pendingLength);
        _pendingLength = 0;
        return text;
    }

    /// <summary>
    /// The length of the trailing bytes that are a proper prefix of a valid UTF-8 sequence (0..3): these may still be
    /// completed by the next token. Anything else is decoded now.
    /// </summary>
    internal static int IncompleteTailLength(ReadOnlySpan<byte> bytes)
    {
        // A valid prefix is a lead byte followed by 0..2 continuation bytes, shorter than the sequence it starts.
        for (int back = 1; back <= Math.Min(3, bytes.Length); back++)
        {
            byte b = bytes[^back];
            if ((b & 0xC0) == 0x80) continue; // continuation byte: keep looking for the lead
            int need = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
            if (need <= back) return 0;
            return IsValidPrefix(bytes[^back..]) ? back : 0;
        }
        return 0;
    }

    /// <summary>Whether <paramref name="prefix"/> (lead byte plus continuations) can still become a valid sequence.</summary>
    private static bool IsValidPrefix(ReadOnlySpan<byte> prefix)
    {
        if (prefix.Length < 2) return true;
        byte lead = prefix[0], second = prefix[1];
        return lead switch
        {
            0xE0 => second >= 0xA0 && second <= 0xBF,
            0xED => second >= 0x80 && second <= 0x9F,
            0xF0 => second >= 0x90 && second <= 0xBF,
            0xF4 => second >= 0x80 && second <= 0x8F,
            _ => true,
        };
    }
}
