using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace InternVit.SK.Text;

/// <summary>
/// The byte-level BPE model: vocabulary, merge ranks and the merge loop of Hugging Face's <c>BPE</c> model
/// (<c>Word::merge_all</c>: a heap ordered by merge rank then position). Words are the UTF-8 bytes of one pre-token,
/// starting as one symbol per byte. Results are cached per pre-token; the model is immutable and safe for concurrent use.
/// </summary>
internal sealed class BpeModel
{
    /// <summary>Pre-tokens longer than this (in UTF-16 units) are not cached.</summary>
    private const int MaxCachedWordLength = 256;

    /// <summary>Cache entries at most; once full, new words are computed but not stored (as Hugging Face does).</summary>
    private const int CacheCapacity = 100_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    private readonly Dictionary<long, long> _merges; // (left << 32 | right) -> (rank << 32 | new id)
    private readonly int[] _byteToId = new int[256];
    private readonly bool _ignoreMerges;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(Environment.ProcessorCount, 4096);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;

    /// <param name="vocab">Token (in the byte-level alphabet) to id.</param>
    /// <param name="merges">Merges in rank order.</param>
    /// <param name="ignoreMerges">Look a whole word up in the vocabulary before merging (<c>ignore_merges</c>).</param>
    /// <param name="source">The file the data came from, for error messages.</param>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, bool ignoreMerges, string source)
    {
        _vocab = vocab;
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _ignoreMerges = ignoreMerges;
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        for (int b = 0; b < 256; b++)
        {
            if (!vocab.TryGetValue(ByteLevel.ByteToChar[b].ToString(), out _byteToId[b]))
                throw new TokenizerException(source, $"the vocabulary has no token for byte 0x{b:X2} ('{ByteLevel.ByteToChar[b]}'), so it is not a byte-level BPE vocabulary");
        }
        _merges = new Dictionary<long, long>(merges.Count);
        Span<char> joined = stackalloc char[256];
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out int leftId) || !vocab.TryGetValue(right, out int rightId))
                throw new TokenizerException(source, $"merge {rank} ('{left} {right}') uses a token that is not in the vocabulary");
            int newId;
            if (left.Length + right.Length <= joined.Length)
            {
                left.CopyTo(joined);
                right.CopyTo(joined[left.Length..]);
                if (!_vocabBySpan.TryGetValue(joined[..(left.Length + right.Length)], out newId))
                    throw new TokenizerException(source, $"merge {rank} ('{left} {right}') makes a token that is not in the vocabulary");
            }
            else if (!vocab.TryGetValue(left + right, out newId))
            {
                throw new TokenizerException(source, $"merge {rank} ('{left} {right}') makes a token that is not in the vocabulary");
            }
            _merges[Key(leftId, rightId)] = ((long)rank << 32) | (uint)newId; // a repeated merge takes its last rank, as in HF's merge map
        }
    }

    /// <summary>Token (byte-level alphabet) to id.</summary>
    public IReadOnlyDictionary<string, int> Vocabulary => _vocab;

    /// <summary>
    /// The ids of one pre-token. The array may be the cached one, shared with every caller: read it, never write to it.
    /// </summary>
    public int[] Tokenize(ReadOnlySpan<char> word)
    {
        if (word.Length <= MaxCachedWordLength && _cacheBySpan.TryGetValue(word, out var cached)) return cached;
        int byteCount = Encoding.UTF8.GetByteCount(word);
        byte[]? rented = null;
        Span<byte> bytes = byteCount <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(byteCount));
        bytes = bytes[..Encoding.UTF8.GetBytes(word, bytes)];
        int[] result = TokenizeBytes(bytes);
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        if (word.Length <= MaxCachedWordLength && _cache.Count < CacheCapacity) _cacheBySpan.TryAdd(word, result);
        return result;
    }

    private int[] TokenizeBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 1) return [_byteToId[bytes[0]]];
        if (_ignoreMerges && TryWholeWord(bytes, out int id)) return [id];

        int n = bytes.Length;
        int[] pool = ArrayPool<int>.Shared.Rent(n * 4);
        try
        {
            var symbol = pool.AsSpan(0, n);
            var prev = pool.AsSpan(n, n);
            var next = pool.AsSpan(2 * n, n);
            var alive = pool.AsSpan(3 * n, n);
            var queue = new PriorityQueue<(int Pos, int NewId), long>(n);
            for (int i = 0; i < n; i++)
            {
                symbol[i] = _byteToId[bytes[i]];
                prev[i] = i - 1;
                next[i] = i + 1 < n ? i + 1 : -1;
                alive[i] = 1;
            }
            for (int i = 0; i + 1 < n; i++) Push(queue, symbol[i], symbol[i + 1], i);

            while (queue.TryDequeue(out var top, out _))
            {
                int pos = top.Pos;
                if (alive[pos] == 0 || next[pos] < 0) continue;
                int right = next[pos];
                // An expired entry: the pair at pos changed since it was queued.
                if (!_merges.TryGetValue(Key(symbol[pos], symbol[right]), out long merge) || (int)merge != top.NewId) continue;
                symbol[pos] = top.NewId;
                alive[right] = 0;
                next[pos] = next[right];
                if (next[right] >= 0) prev[next[right]] = pos;
                if (prev[pos] >= 0) Push(queue, symbol[prev[pos]], symbol[pos], prev[pos]);
                if (next[pos] >= 0) Push(queue, symbol[pos], symbol[next[pos]], pos);
            }

            int count = 0;
            for (int i = 0; i >= 0; i = next[i]) count++;
            var result = new int[count];
            count = 0;
            for (int i = 0; i >= 0; i = next[i]) result[count++] = symbol[i];
            return result;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(pool);
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private void Push(PriorityQueue<(int Pos, int NewId), long> queue, int left, int right, int pos)
    {
        if (_merges.TryGetValue(Key(left, right), out long merge))
            queue.Enqueue((pos, (int)merge), (merge & ~0xFFFFFFFFL) | (uint)pos);
    }

    private bool TryWholeWord(ReadOnlySpan<byte> bytes, out int id)
    {
        char[]? rented = null;
        Span<char> chars = bytes.Length <= 512 ? stackalloc char[512] : (rented = ArrayPool<char>.Shared.Rent(bytes.Length));
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteLevel.ByteToChar[bytes[i]];
        bool found = _vocabBySpan.TryGetValue(chars[..bytes.Length], out id);
        if (rented is not null) ArrayPool<char>.Shared.Return(rented);
        return found;
    }
}
