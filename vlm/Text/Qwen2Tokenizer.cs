using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

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
/// It is a Microsoft.ML.Tokenizers <see cref="Tokenizer"/>: <c>EncodeToIds</c>, <c>EncodeToTokens</c> (with
/// offsets), <c>CountTokens</c>, <c>GetIndexByTokenCount</c>/<c>GetIndexByTokenCountFromEnd</c> and <c>Decode</c>
/// give the same ids and text as <see cref="Encode(string)"/> and <see cref="Decode(ReadOnlySpan{int}, bool)"/>,
/// which stay the fast paths (no offsets, no result objects). A token budget (<c>maxTokenCount</c>) takes whole
/// pieces only (added tokens and pre-tokens, never part of one), so the text up to the returned index encodes on its
/// own to exactly the ids counted (see <see cref="GetIndexByTokenCount(string?, ReadOnlySpan{char}, EncodeSettings, bool, out string?, out int)"/>).
/// </para>
/// <para>
/// Text is UTF-16 here, HF's is UTF-8: a lone surrogate in the input is read as U+FFFD (what the reference's Node
/// binding does when it converts a JavaScript string, and what <c>from_utf8_lossy</c> does with the bytes of a
/// lone surrogate). <see cref="EncodeUtf8"/> takes bytes and replaces invalid sequences the same way.
/// </para>
/// </summary>
public sealed partial class Qwen2Tokenizer : Tokenizer
{
    private readonly BpeModel _model;
    private readonly AddedTokenMatcher _rawAddedTokens;
    private readonly AddedTokenMatcher _normalizedAddedTokens;
    private readonly Dictionary<string, int> _addedByContent = new(StringComparer.Ordinal);
    private readonly string?[] _idToToken;
    private readonly byte[]?[] _idToBytes;
    private readonly bool[] _special;
    private readonly bool _normalizeNfc;

    internal Qwen2Tokenizer(BpeModel model, IReadOnlyList<AddedToken> addedTokens, bool normalizeNfc, string source)
    {
        _model = model;
        _normalizeNfc = normalizeNfc;
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

    /// <summary>One more than the largest id (151674 for InternVL2.5/3, 151678 for InternVL3.5; the LLM's vocab_size may be larger, padded).</summary>
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
        var sink = new IdSink(ids);
        Walk(Prepare(text, normalize: true), preTokenize: true, int.MaxValue, ref sink, out _);
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

    /// <summary>
    /// The text the encoder walks: lone surrogates read as U+FFFD and, when <paramref name="normalize"/> is set and the
    /// tokenizer has NFC, the text between raw added tokens in NFC. <see cref="PreparedText.NormalizedText"/> is set only
    /// when NFC changed something; then the walk runs over it, and the raw added tokens found in the input are kept with
    /// their positions in it (NFC could spell a new one between them, which the reference would not match).
    /// </summary>
    private PreparedText Prepare(ReadOnlySpan<char> input, bool normalize)
    {
        ReadOnlySpan<char> text = input;
        if (text.IndexOfAnyInRange('\uD800', '\uDFFF') >= 0 && HasLoneSurrogate(text)) text = ReplaceLoneSurrogates(text);
        if (!normalize || !_normalizeNfc || NfcNormalizer.IsQuickNfc(text)) return new PreparedText(text, null, null);

        var builder = new StringBuilder(text.Length + 8);
        var rawTokens = new List<(int Start, AddedToken Token)>();
        for (int at = 0; at < text.Length;)
        {
            if (_rawAddedTokens.IsEmpty || !_rawAddedTokens.TryFind(text, at, out int start, out var token))
            {
                NfcNormalizer.Normalize(text[at..], builder);
                break;
            }
            NfcNormalizer.Normalize(text[at..start], builder);
            rawTokens.Add((builder.Length, token));
            builder.Append(token.Content);
            at = start + token.Content.Length;
        }
        string normalized = builder.ToString();
        return normalized.AsSpan().SequenceEqual(text) ? new PreparedText(text, null, null) : new PreparedText(normalized, normalized, rawTokens);
    }

    /// <summary>
    /// Encodes <paramref name="text"/> into <paramref name="sink"/>, piece by piece: raw added tokens, then in the text
    /// between them normalized added tokens, then pre-tokens (or, without <paramref name="preTokenize"/>, each stretch
    /// between added tokens as one word) through BPE. Stops before the first piece whose tokens would take the count
    /// past <paramref name="maxTokenCount"/>: a pre-token's tokens go in all together or not at all. Returns the number
    /// of tokens given to the sink; <paramref name="end"/> is where the last piece taken ends in the walked text (its
    /// length when everything fit).
    /// </summary>
    private int Walk<TSink>(scoped in PreparedText text, bool preTokenize, int maxTokenCount, ref TSink sink, out int end)
        where TSink : struct, IPieceSink
    {
        ReadOnlySpan<char> span = text.Text;
        var rawTokens = text.RawTokens;
        int count = 0, at = 0, rawIndex = 0;
        end = 0;
        while (true)
        {
            int start;
            AddedToken? token;
            if (rawTokens is not null)
            {
                if (rawIndex < rawTokens.Count)
                {
                    (start, token) = rawTokens[rawIndex++];
                }
                else
                {
                    start = span.Length;
                    token = null;
                }
            }
            else if (_rawAddedTokens.IsEmpty || !_rawAddedTokens.TryFind(span, at, out start, out token))
            {
                start = span.Length;
                token = null;
            }
            if (start > at && !WalkSegment(span[at..start], at, preTokenize, maxTokenCount, ref sink, ref count, ref end)) return count;
            if (token is null || count >= maxTokenCount) return count;
            sink.AddedToken(token.Id, start, token.Content.Length);
            count++;
            at = end = start + token.Content.Length;
        }
    }

    /// <summary>The text between two raw added tokens (already normalized), at <paramref name="offset"/> in the walked text.</summary>
    private bool WalkSegment<TSink>(ReadOnlySpan<char> segment, int offset, bool preTokenize, int maxTokenCount, ref TSink sink, ref int count, ref int end)
        where TSink : struct, IPieceSink
    {
        int at = 0;
        while (at < segment.Length)
        {
            if (_normalizedAddedTokens.IsEmpty || !_normalizedAddedTokens.TryFind(segment, at, out int start, out var token))
                return WalkWords(segment[at..], offset + at, preTokenize, maxTokenCount, ref sink, ref count, ref end);
            if (start > at && !WalkWords(segment[at..start], offset + at, preTokenize, maxTokenCount, ref sink, ref count, ref end)) return false;
            if (count >= maxTokenCount) return false;
            sink.AddedToken(token.Id, offset + start, token.Content.Length);
            count++;
            at = start + token.Content.Length;
            end = offset + at;
        }
        return true;
    }

    /// <summary>
    /// Text without added tokens: its pre-tokens through BPE. The budget is checked per piece, and a piece is one
    /// pre-token except in one case: where <c>\s+(?!\S)</c> left the last white-space character of a run to a pre-token
    /// of its own (before a digit, or before punctuation when it is not a space), that character and the pre-token after it are one
    /// piece, because text cut right after it would end in the whole run, one pre-token there. So every cut the budget
    /// makes leaves text that encodes on its own to the ids taken (and the rest to the rest).
    /// </summary>
    private bool WalkWords<TSink>(ReadOnlySpan<char> text, int offset, bool preTokenize, int maxTokenCount, ref TSink sink, ref int count, ref int end)
        where TSink : struct, IPieceSink
    {
        int at = 0;
        bool afterBlank = false; // the previous pre-token was white space with no line break at its end
        while (at < text.Length)
        {
            int stop = preTokenize ? Qwen2PreTokenizer.NextEnd(text, at) : text.Length;
            var word = text[at..stop];
            int[] ids = _model.Tokenize(word);
            bool blank = preTokenize && IsBlank(word);
            if (blank && afterBlank && stop < text.Length)
            {
                int after = Qwen2PreTokenizer.NextEnd(text, stop);
                var next = text[stop..after];
                int[] nextIds = _model.Tokenize(next);
                if (ids.Length + nextIds.Length > maxTokenCount - count) return false;
                sink.Word(word, offset + at, ids, joinsPrevious: false);
                sink.Word(next, offset + stop, nextIds, joinsPrevious: true);
                count += ids.Length + nextIds.Length;
                at = after;
                end = offset + at;
                afterBlank = false; // the run ended before next
                continue;
            }
            if (ids.Length > maxTokenCount - count) return false;
            sink.Word(word, offset + at, ids, joinsPrevious: false);
            count += ids.Length;
            at = stop;
            end = offset + at;
            afterBlank = blank && word[^1] is not ('\r' or '\n');
        }
        return true;
    }

    /// <summary>Whether a pre-token is all white space (a white-space code point is one UTF-16 unit).</summary>
    private static bool IsBlank(ReadOnlySpan<char> word)
    {
        foreach (char c in word)
            if (!char.IsWhiteSpace(c)) return false;
        return true;
    }

    /// <summary>Text ready for <see cref="Walk"/>; see <see cref="Prepare"/>.</summary>
    private readonly ref struct PreparedText(ReadOnlySpan<char> text, string? normalizedText, List<(int Start, AddedToken Token)>? rawTokens)
    {
        /// <summary>The text to walk: the input, or the normalized text.</summary>
        public ReadOnlySpan<char> Text { get; } = text;

        /// <summary>The normalized text when it differs from the input, otherwise null.</summary>
        public string? NormalizedText { get; } = normalizedText;

        /// <summary>The raw added tokens at their positions in <see cref="NormalizedText"/> (null: find them while walking).</summary>
        public List<(int Start, AddedToken Token)>? RawTokens { get; } = rawTokens;
    }

    /// <summary>What <see cref="Walk"/> produces, piece by piece, at positions in the walked text.</summary>
    private interface IPieceSink
    {
        /// <summary>An added token at [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>).</summary>
        void AddedToken(int id, int start, int length);

        /// <summary>
        /// The ids of one pre-token <paramref name="word"/> at <paramref name="start"/> (a shared array: read only);
        /// <paramref name="joinsPrevious"/> when it is one piece with the pre-token before it (see <see cref="WalkWords"/>).
        /// </summary>
        void Word(ReadOnlySpan<char> word, int start, int[] ids, bool joinsPrevious);
    }

    /// <summary>Appends ids to a list.</summary>
    private readonly struct IdSink(List<int> list) : IPieceSink
    {
        public void AddedToken(int id, int start, int length) => list.Add(id);

        public void Word(ReadOnlySpan<char> word, int start, int[] ids, bool joinsPrevious) => list.AddRange(ids);
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
