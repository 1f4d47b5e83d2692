using System.Buffers;
using System.Text;

namespace InternVit.SK.Text;

/// <summary>
/// The Qwen2-family byte-level BPE tokenizer, exact to Hugging Face <c>tokenizers</c>. Encoding runs
/// added tokens (leftmost-longest, on the raw text) → NFC → the Qwen2 split regex → UTF-8 bytes → BPE merges;
/// decoding maps tokens back to bytes (added tokens verbatim) and reads them as UTF-8, each maximal invalid
/// subsequence becoming one U+FFFD (Rust's <c>String::from_utf8_lossy</c>, which .NET's UTF-8 decoder matches).
/// <para>
/// Loaded from a folder holding either a tokenizer.json or the slow-tokenizer files (vocab.json + merges.txt +
/// tokenizer_config.json); both build the same tokenizer. Immutable and safe for concurrent use.
/// </para>
/// <para>
/// Text is UTF-16 here, HF's is UTF-8: a lone surrogate in the input is read as U+FFFD (what the reference's Node
/// binding does when it converts a JavaScript string, and what <c>from_utf8_lossy</c> does with the bytes of a
/// lone surrogate). <see cref="EncodeUtf8"/> takes bytes and replaces invalid sequences the same way.
/// </para>
/// </summary>
public sealed class Qwen2Tokenizer
{
    private readonly BpeModel _model;
    private readonly AddedTokenMatcher _rawAddedTokens;
    private readonly AddedTokenMatcher _normalizedAddedTokens;
    private readonly Dictionary<string, int> _addedByContent = new(StringComparer.Ordinal);
    private readonly string?[] _idToToken;
    private readonly byte[]?[] _idToBytes;
    private readonly bool[] _special;
    private readonly bool _normalizeNfc;
    private readonly SegmentEncoder _encodeSegment;
    private readonly SegmentEncoder _encodePreTokens;

    internal Qwen2Tokenizer(BpeModel model, IReadOnlyList<AddedToken> addedTokens, bool normalizeNfc, string source)
    {
        _model = model;
        _normalizeNfc = normalizeNfc;
        _encodeSegment = EncodeSegment;
        _encodePreTokens = EncodePreTokens;
        Source = source;
        int size = 0;
        foreach (var (_, id) in model.Vocabulary) size = Math.Max(size, id + 1);
        foreach (var token in addedTokens) size = Math.Max(size, token.Id + 1);
        _idToToken = new string?[size];
        _idToBytes = new byte[]?[size];
        _special = new bool[size];
        foreach (var (token, id) in model.Vocabulary)
        {
            _idToToken[id] = token;
            _idToBytes[id] = ByteLevel.TokenBytes(token);
        }
        foreach (var token in addedTokens)
        {
            _idToToken[token.Id] = token.Content;
            _idToBytes[token.Id] = ByteLevel.TokenBytes(token.Content);
            _special[token.Id] = token.Special;
            _addedByContent[token.Content] = token.Id;
        }
        AddedTokens = addedTokens;
        _rawAddedTokens = new AddedTokenMatcher(addedTokens.Where(t => !t.Normalized));
        _normalizedAddedTokens = new AddedTokenMatcher(addedTokens.Where(t => t.Normalized));
    }

    /// <summary>
    /// Loads the tokenizer of a model folder: its tokenizer.json when there is one, otherwise the slow-tokenizer
    /// files (vocab.json, merges.txt, tokenizer_config.json, added_tokens.json). A path to a tokenizer.json file works too.
    /// </summary>
    /// <exception cref="TokenizerException">No tokenizer files, malformed files, or a tokenizer kind that is not supported.</exception>
    public static Qwen2Tokenizer Load(string path) => TokenizerFiles.Load(path);

    /// <summary>One more than the largest id (151674 for InternVL2.5/3).</summary>
    public int VocabularySize => _idToToken.Length;

    /// <summary>Where the tokenizer was loaded from (the tokenizer.json, or the folder of the slow files).</summary>
    public string Source { get; }

    internal IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>The ids of <paramref name="text"/>, without any BOS/EOS (Qwen2 adds none).</summary>
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        Encode(text, ids);
        return [.. ids];
    }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="ids"/>; reuse the list to avoid allocations.</summary>
    public void Encode(ReadOnlySpan<char> text, List<int> ids)
    {
        if (text.IndexOfAnyInRange('\uD800', '\uDFFF') >= 0 && HasLoneSurrogate(text))
        {
            EncodeValid(ReplaceLoneSurrogates(text), ids);
            return;
        }
        EncodeValid(text, ids);
    }

    /// <summary>The ids of UTF-8 <paramref name="utf8"/>; invalid byte sequences are read as U+FFFD, as <c>from_utf8_lossy</c> does.</summary>
    public int[] EncodeUtf8(ReadOnlySpan<byte> utf8) => Encode(Encoding.UTF8.GetString(utf8));

    /// <summary>
    /// The text of <paramref name="ids"/>. With <paramref name="skipSpecialTokens"/>, tokens flagged special are left
    /// out (added tokens that are not special, such as <c>&lt;tool_call&gt;</c>, stay). Unknown ids are skipped, as HF does.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        int length = 0;
        foreach (int id in ids)
            if (TryTokenBytes(id, skipSpecialTokens, out var b)) length += b.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            int at = 0;
            foreach (int id in ids)
            {
                if (!TryTokenBytes(id, skipSpecialTokens, out var b)) continue;
                b.CopyTo(buffer.AsSpan(at));
                at += b.Length;
            }
            return Encoding.UTF8.GetString(buffer, 0, at);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The token of <paramref name="id"/>: an added token's content, or the BPE token in the byte-level alphabet (<c>Ġ</c> = space).</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>The id of <paramref name="token"/> (an added token's content or a vocabulary token), or null.</summary>
    public int? TokenToId(string token)
    {
        if (_addedByContent.TryGetValue(token, out int id)) return id;
        return _model.Vocabulary.TryGetValue(token, out id) ? id : null;
    }

    /// <summary>Whether <paramref name="id"/> is an added token flagged special (dropped by <c>skip_special_tokens</c>).</summary>
    public bool IsSpecialToken(int id) => (uint)id < (uint)_special.Length && _special[id];

    /// <summary>A detokenizer for one generated sequence: text comes out as tokens arrive, never half a character.</summary>
    public StreamingDetokenizer CreateStreamingDetokenizer(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    /// <summary>The bytes <paramref name="id"/> decodes to; false for unknown ids and, when skipping, special tokens.</summary>
    internal bool TryTokenBytes(int id, bool skipSpecialTokens, out ReadOnlySpan<byte> bytes)
    {
        if ((uint)id >= (uint)_idToBytes.Length || _idToBytes[id] is not { } b || (skipSpecialTokens && _special[id]))
        {
            bytes = default;
            return false;
        }
        bytes = b;
        return true;
    }

    private delegate void SegmentEncoder(ReadOnlySpan<char> text, List<int> ids);

    /// <summary>Added tokens of <paramref name="matcher"/> become their ids; the text between them goes to <paramref name="encodeGap"/>.</summary>
    private static void SplitOnAddedTokens(ReadOnlySpan<char> text, AddedTokenMatcher matcher, List<int> ids, SegmentEncoder encodeGap)
    {
        int at = 0;
        while (at < text.Length)
        {
            if (matcher.IsEmpty || !matcher.TryFind(text, at, out int start, out var token))
            {
                encodeGap(text[at..], ids);
                return;
            }
            if (start > at) encodeGap(text[at..start], ids);
            ids.Add(token.Id);
            at = start + token.Content.Length;
        }
    }

    private void EncodeValid(ReadOnlySpan<char> text, List<int> ids) => SplitOnAddedTokens(text, _rawAddedTokens, ids, _encodeSegment);

    /// <summary>Text between raw added tokens: NFC (when the tokenizer has that normalizer), then normalized added tokens, then pre-tokens and BPE.</summary>
    private void EncodeSegment(ReadOnlySpan<char> segment, List<int> ids)
    {
        ReadOnlySpan<char> normalized = segment;
        if (_normalizeNfc && !NfcNormalizer.IsQuickNfc(segment))
        {
            var builder = new StringBuilder(segment.Length + 8);
            NfcNormalizer.Normalize(segment, builder);
            normalized = builder.ToString();
        }
        SplitOnAddedTokens(normalized, _normalizedAddedTokens, ids, _encodePreTokens);
    }

    private void EncodePreTokens(ReadOnlySpan<char> text, List<int> ids)
    {
        int at = 0;
        while (at < text.Length)
        {
            int end = Qwen2PreTokenizer.NextEnd(text, at);
            _model.Tokenize(text[at..end], ids);
            at = end;
        }
    }

    private static bool HasLoneSurrogate(ReadOnlySpan<char> text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(c)) return true;
        }
        return false;
    }

    private static string ReplaceLoneSurrogates(ReadOnlySpan<char> text)
    {
        var chars = text.ToArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) i++;
            else if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }
}
