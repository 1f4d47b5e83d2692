using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace InternVit.SK.Text;

// The Microsoft.ML.Tokenizers surface: Tokenizer's overrides, on the same walk as the fast paths.
public sealed partial class Qwen2Tokenizer
{
    /// <summary>
    /// The Qwen2 split regex, as the scanner the encoder runs. Encoding finds added tokens first and pre-tokenizes the
    /// text between them; with <c>considerPreTokenization: false</c> that text is one BPE word instead.
    /// </summary>
    public override PreTokenizer? PreTokenizer => Qwen2PreTokenizer.Instance;

    /// <summary>
    /// NFC when the tokenizer files name that normalizer, otherwise null. Encoding normalizes the text between the
    /// added tokens that are matched on the raw text, as Hugging Face does; <c>considerNormalization: false</c> skips it.
    /// </summary>
    public override Normalizer? Normalizer => _normalizeNfc ? NfcNormalizer.Instance : null;

    /// <summary>
    /// The tokens of the text: id, value (the vocabulary token in the byte-level alphabet, <c>Ġ</c> for a space, as
    /// <see cref="IdToToken"/> gives it; an added token's content) and offset. Offsets are character ranges in the input,
    /// or in <see cref="EncodeResults{T}.NormalizedText"/> when NFC changed the text (it is null otherwise). A token that
    /// holds only some of a character's UTF-8 bytes (byte-level BPE splits some emoji and CJK) covers that whole character,
    /// so the tokens sharing it overlap there; every other token's range is exactly its text.
    /// <see cref="EncodeSettings.MaxTokenCount"/> takes whole pieces, as <see cref="EncodeToIds(string?, ReadOnlySpan{char}, EncodeSettings)"/> does.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The token budget is not positive.</exception>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        int maxTokenCount = CheckBudget(settings.MaxTokenCount);
        var prepared = Prepare(text is null ? textSpan : text.AsSpan(), settings.ConsiderNormalization);
        var sink = new TokenSink(this, new List<EncodedToken>(prepared.Text.Length / 3 + 4));
        Walk(prepared, settings.ConsiderPreTokenization, maxTokenCount, ref sink, out int end);
        return new EncodeResults<EncodedToken> { Tokens = sink.Tokens, NormalizedText = prepared.NormalizedText, CharsConsumed = end };
    }

    /// <summary>
    /// The ids of the text, the same as <see cref="Encode(string)"/> with the default settings. With
    /// <see cref="EncodeSettings.MaxTokenCount"/>, the ids of the longest run of whole pieces from the start (added tokens
    /// and pre-tokens) that fits: a pre-token's tokens are taken all together or not at all, so the first
    /// <see cref="EncodeResults{T}.CharsConsumed"/> characters encode on their own to exactly these ids. Positions are in
    /// the input, or in <see cref="EncodeResults{T}.NormalizedText"/> when NFC changed the text (it is null otherwise).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The token budget is not positive.</exception>
    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        int maxTokenCount = CheckBudget(settings.MaxTokenCount);
        var prepared = Prepare(text is null ? textSpan : text.AsSpan(), settings.ConsiderNormalization);
        var ids = new List<int>(prepared.Text.Length / 3 + 4);
        var sink = new IdSink(ids);
        Walk(prepared, settings.ConsiderPreTokenization, maxTokenCount, ref sink, out int end);
        return new EncodeResults<int> { Tokens = ids, NormalizedText = prepared.NormalizedText, CharsConsumed = end };
    }

    /// <summary>
    /// The number of ids <see cref="EncodeToIds(string?, ReadOnlySpan{char}, EncodeSettings)"/> gives with the same
    /// settings (at most <see cref="EncodeSettings.MaxTokenCount"/>, in whole pieces), without building a list.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The token budget is not positive.</exception>
    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        int maxTokenCount = CheckBudget(settings.MaxTokenCount);
        var sink = default(CountSink);
        return Walk(Prepare(text is null ? textSpan : text.AsSpan(), settings.ConsiderNormalization), settings.ConsiderPreTokenization, maxTokenCount, ref sink, out _);
    }

    /// <summary>
    /// Where to cut the text so that one side holds at most <see cref="EncodeSettings.MaxTokenCount"/> tokens, in whole
    /// pieces (added tokens and pre-tokens). From the start: the end of the longest such prefix (0 when the first piece
    /// alone is over the budget, the text's length when everything fits). From the end: the start of the longest such
    /// suffix (the text's length when the last piece alone is over the budget, 0 when everything fits).
    /// <paramref name="tokenCount"/> is the prefix's (suffix's) token count. Positions are in the input, or in
    /// <paramref name="normalizedText"/> when NFC changed the text (it is null otherwise). Because no pre-token is
    /// split, the prefix and the suffix each encode on their own to exactly the ids counted, so text cut at these indices
    /// re-encodes chunk by chunk to the ids of the whole.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The token budget is not positive.</exception>
    protected override int GetIndexByTokenCount(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings, bool fromEnd, out string? normalizedText, out int tokenCount)
    {
        int maxTokenCount = CheckBudget(settings.MaxTokenCount);
        var prepared = Prepare(text is null ? textSpan : text.AsSpan(), settings.ConsiderNormalization);
        normalizedText = prepared.NormalizedText;
        if (!fromEnd)
        {
            var counter = default(CountSink);
            tokenCount = Walk(prepared, settings.ConsiderPreTokenization, maxTokenCount, ref counter, out int end);
            return end;
        }

        var sink = new PieceSink(new List<(int Start, int Count)>());
        Walk(prepared, settings.ConsiderPreTokenization, int.MaxValue, ref sink, out _);
        var pieces = sink.Pieces;
        int index = prepared.Text.Length;
        tokenCount = 0;
        for (int i = pieces.Count - 1; i >= 0 && pieces[i].Count <= maxTokenCount - tokenCount; i--)
        {
            tokenCount += pieces[i].Count;
            index = pieces[i].Start;
        }
        return index;
    }

    /// <summary>
    /// The text of <paramref name="ids"/>, the same as <see cref="Decode(ReadOnlySpan{int}, bool)"/> with special
    /// tokens kept: unknown ids are skipped, as Hugging Face does, and invalid UTF-8 becomes U+FFFD.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="ids"/> is null.</exception>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids is int[] array) return Decode(new ReadOnlySpan<int>(array), skipSpecialTokens: false);
        if (ids is List<int> list) return Decode((ReadOnlySpan<int>)CollectionsMarshal.AsSpan(list), skipSpecialTokens: false);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(256);
        int length = 0;
        try
        {
            foreach (int id in ids)
            {
                if (!TryTokenBytes(id, skipSpecialTokens: false, out var bytes)) continue;
                if (length + bytes.Length > buffer.Length) Grow(ref buffer, length, length + bytes.Length);
                bytes.CopyTo(buffer.AsSpan(length));
                length += bytes.Length;
            }
            return Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Writes the text of <paramref name="ids"/> (as <see cref="Decode(IEnumerable{int})"/> gives it) to
    /// <paramref name="destination"/>. A character can take several tokens, so the counts stop after the last id that
    /// completes its characters: on <see cref="OperationStatus.DestinationTooSmall"/>, <paramref name="charsWritten"/>
    /// characters of the text are in place and decoding the ids after the first <paramref name="idsConsumed"/> gives
    /// the rest. Otherwise <see cref="OperationStatus.Done"/>; bytes that never complete a character end the text as U+FFFD.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="ids"/> is null.</exception>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        idsConsumed = 0;
        charsWritten = 0;
        Span<byte> pending = stackalloc byte[4];
        int pendingLength = 0, seen = 0, written = 0;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(256);
        try
        {
            foreach (int id in ids)
            {
                seen++;
                if (TryTokenBytes(id, skipSpecialTokens: false, out var bytes) && bytes.Length > 0)
                {
                    int total = pendingLength + bytes.Length;
                    if (buffer.Length < total) Grow(ref buffer, 0, total);
                    pending[..pendingLength].CopyTo(buffer);
                    bytes.CopyTo(buffer.AsSpan(pendingLength));
                    int complete = total - StreamingDetokenizer.IncompleteTailLength(buffer.AsSpan(0, total));
                    if (complete > 0)
                    {
                        if (Encoding.UTF8.GetCharCount(buffer, 0, complete) > destination.Length - written) return OperationStatus.DestinationTooSmall;
                        written += Encoding.UTF8.GetChars(buffer.AsSpan(0, complete), destination[written..]);
                    }
                    pendingLength = total - complete;
                    buffer.AsSpan(complete, pendingLength).CopyTo(pending);
                }
                if (pendingLength == 0)
                {
                    idsConsumed = seen;
                    charsWritten = written;
                }
            }
            if (pendingLength > 0)
            {
                if (Encoding.UTF8.GetCharCount(pending[..pendingLength]) > destination.Length - written) return OperationStatus.DestinationTooSmall;
                written += Encoding.UTF8.GetChars(pending[..pendingLength], destination[written..]);
            }
            idsConsumed = seen;
            charsWritten = written;
            return OperationStatus.Done;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>ML.Tokenizers' rule for every token budget: it must be positive (int.MaxValue when unset).</summary>
    private static int CheckBudget(int maxTokenCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxTokenCount, nameof(EncodeSettings.MaxTokenCount));
        return maxTokenCount;
    }

    /// <summary>Replaces <paramref name="buffer"/> (a pooled array) with one of at least <paramref name="size"/> bytes, keeping its first <paramref name="keep"/>.</summary>
    private static void Grow(ref byte[] buffer, int keep, int size)
    {
        byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(size, buffer.Length * 2));
        buffer.AsSpan(0, keep).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = bigger;
    }

    /// <summary>Counts only (the walk returns the count).</summary>
    private readonly struct CountSink : IPieceSink
    {
        public void AddedToken(int id, int start, int length)
        {
        }

        public void Word(ReadOnlySpan<char> word, int start, int[] ids, bool joinsPrevious)
        {
        }
    }

    /// <summary>Each piece's start and token count, for cutting from the end.</summary>
    private readonly struct PieceSink(List<(int Start, int Count)> pieces) : IPieceSink
    {
        public List<(int Start, int Count)> Pieces => pieces;

        public void AddedToken(int id, int start, int length) => pieces.Add((start, 1));

        public void Word(ReadOnlySpan<char> word, int start, int[] ids, bool joinsPrevious)
        {
            if (joinsPrevious) pieces[^1] = (pieces[^1].Start, pieces[^1].Count + ids.Length);
            else pieces.Add((start, ids.Length));
        }
    }

    /// <summary>Tokens with their values and character ranges.</summary>
    private readonly struct TokenSink(Qwen2Tokenizer tokenizer, List<EncodedToken> tokens) : IPieceSink
    {
        public List<EncodedToken> Tokens => tokens;

        public void AddedToken(int id, int start, int length) => tokens.Add(new EncodedToken(id, tokenizer._idToToken[id]!, new Range(start, start + length)));

        /// <summary>
        /// Walks the word's code points alongside the tokens' byte lengths: a token starts at the code point holding its
        /// first byte and ends after the one holding its last byte.
        /// </summary>
        public void Word(ReadOnlySpan<char> word, int start, int[] ids, bool joinsPrevious)
        {
            int at = 0;   // the code point the next token's first byte is in
            int used = 0; // bytes of that code point that earlier tokens hold
            foreach (int id in ids)
            {
                int need = tokenizer._idToBytes[id]!.Length;
                int first = at, last;
                while (true)
                {
                    int chars = char.IsHighSurrogate(word[at]) && at + 1 < word.Length && char.IsLowSurrogate(word[at + 1]) ? 2 : 1;
                    int available = Utf8Length(word[at], chars) - used;
                    if (need < available)
                    {
                        used += need;
                        last = at + chars;
                        break;
                    }
                    need -= available;
                    used = 0;
                    at += chars;
                    if (need == 0)
                    {
                        last = at;
                        break;
                    }
                }
                tokens.Add(new EncodedToken(id, tokenizer._idToToken[id]!, new Range(start + first, start + last)));
            }
        }

        /// <summary>UTF-8 bytes of the code point starting with <paramref name="c"/> (<paramref name="chars"/> UTF-16 units; no lone surrogates here).</summary>
        private static int Utf8Length(char c, int chars) => chars == 2 ? 4 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    }
}
