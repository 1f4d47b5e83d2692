namespace InternVit.SK.Generation;

/// <summary>
/// What a KV cache holds, position by position: the token ids, and for the <c>&lt;IMG_CONTEXT&gt;</c> positions the
/// images whose feature rows filled them (two images give the same ids; their <see cref="ImageFeatures.CacheKey"/>s differ).
/// Images fill the context positions in order, each a contiguous run of <see cref="ImageFeatures.TokenCount"/> positions.
/// </summary>
/// <param name="Tokens">The ids of the positions.</param>
/// <param name="Images">Each image's feature key and its number of context positions, in order.</param>
internal sealed record PromptSequence(int[] Tokens, (UInt128 Key, int Tokens)[] Images)
{
    /// <summary>
    /// How many leading positions of <paramref name="a"/> and <paramref name="b"/> hold the same inputs: the same ids,
    /// and at image positions the same image. Equal leading ids mean equal earlier context runs, so the n-th image of
    /// both starts at the same position; when its keys are equal, so are its length and rows.
    /// </summary>
    public static int CommonPrefixLength(PromptSequence a, PromptSequence b, int imageContext)
    {
        int length = a.Tokens.AsSpan().CommonPrefixLength(b.Tokens);
        int image = 0, left = 0;
        for (int position = 0; position < length; position++)
        {
            if (a.Tokens[position] != imageContext) continue;
            if (left == 0)
            {
                if (image >= a.Images.Length || image >= b.Images.Length || a.Images[image] != b.Images[image]) return position;
                left = a.Images[image++].Tokens;
            }
            left--;
        }
        return length;
    }
}

/// <summary>
/// Automatic prefix caching across requests, the way llama.cpp's server and vLLM reuse a prompt's KV prefix: after a
/// generation its KV cache is retained with the <see cref="PromptSequence"/> it holds (prompt and fed answer tokens);
/// a later request whose inputs start with a retained sequence's takes that cache and prefills only what follows.
/// One cache per loaded model. Bounded in entries and bytes (each retained cache counted at its full capacity),
/// evicted least recently used. A retained cache is checked out exclusively: two requests never extend it at once
/// (a second request with the same prefix prefills in full, or takes another entry).
/// </summary>
internal sealed class PromptPrefixCache : IDisposable
{
    private sealed record Entry(KvCache Cache, PromptSequence Sequence);

    private readonly Lock _lock = new();
    private readonly LinkedList<Entry> _entries = []; // most recently used first
    private readonly int _imageContext;
    private bool _disposed;

    internal PromptPrefixCache(int maxEntries, long maxBytes, int imageContext)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxEntries);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        MaxEntries = maxEntries;
        MaxBytes = maxBytes;
        _imageContext = imageContext;
    }

    /// <summary>Most caches retained; 0 turns reuse off.</summary>
    public int MaxEntries { get; }

    /// <summary>Most bytes of retained caches (at their capacity); 0 turns reuse off.</summary>
    public long MaxBytes { get; }

    /// <summary>Whether caches are retained at all.</summary>
    public bool Enabled => MaxEntries > 0 && MaxBytes > 0;

    /// <summary>Bytes of the caches retained now (never more than <see cref="MaxBytes"/>).</summary>
    public long Bytes { get; private set; }

    /// <summary>Caches retained now.</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _entries.Count;
        }
    }

    /// <summary>
    /// A cache for <paramref name="sequence"/> of at least <paramref name="capacity"/> positions, holding the longest
    /// prefix of it that a retained cache holds (its <see cref="KvCache.Length"/>; 0 when none matches), always at
    /// least one position short of the whole sequence (the last position's logits are needed). The caller owns it:
    /// dispose it, or give it back with <see cref="Retain"/>. A retained cache that matches in full and is large enough
    /// is handed over as it is; otherwise the matched prefix is copied into a new cache (the retained one stays,
    /// for its other continuation, unless the new one supersedes it).
    /// </summary>
    public KvCache Acquire(PromptSequence sequence, int capacity, LanguageModel language)
    {
        Entry? best = null;
        int reused = 0;
        lock (_lock)
        {
            if (!_disposed)
                for (var node = _entries.First; node is not null; node = node.Next)
                {
                    int common = Math.Min(PromptSequence.CommonPrefixLength(node.Value.Sequence, sequence, _imageContext), sequence.Tokens.Length - 1);
                    if (common > reused) (best, reused) = (node.Value, common);
                }
            if (best is not null)
            {
                _entries.Remove(best);
                Bytes -= best.Cache.Bytes;
            }
        }
        if (best is null) return language.CreateCache(capacity);
        bool whole = reused == best.Cache.Length;
        if (whole && best.Cache.Capacity >= capacity) return best.Cache;
        KvCache fresh;
        try
        {
            fresh = language.CreateCache(Math.Max(capacity, reused + 1));
            fresh.CopyPrefixFrom(best.Cache, reused);
        }
        catch
        {
            Retain(best.Cache, best.Sequence);
            throw;
        }
        if (whole) best.Cache.Dispose(); // grown: the new cache holds all of it
        else Retain(best.Cache, best.Sequence);
        return fresh;
    }

    /// <summary>
    /// Takes <paramref name="cache"/>, which holds <paramref name="sequence"/>, for later requests (or disposes it when
    /// reuse is off, it is larger than the bound, or this cache was disposed). Retained sequences it extends are dropped,
    /// then the least recently used go until the bounds hold.
    /// </summary>
    public void Retain(KvCache cache, PromptSequence sequence)
    {
        if (sequence.Tokens.Length != cache.Length) throw new ArgumentException($"the sequence has {sequence.Tokens.Length} positions, the cache {cache.Length}", nameof(sequence));
        if (!Enabled || cache.Length == 0 || cache.Bytes > MaxBytes)
        {
            cache.Dispose();
            return;
        }
        List<KvCache>? dropped = null;
        lock (_lock)
        {
            if (_disposed)
            {
                dropped = [cache];
            }
            else
            {
                for (var node = _entries.First; node is not null;)
                {
                    var next = node.Next;
                    if (PromptSequence.CommonPrefixLength(node.Value.Sequence, sequence, _imageContext) == node.Value.Sequence.Tokens.Length)
                        Drop(node, ref dropped);
                    node = next;
                }
                // Room first, so the accounted bytes never exceed the bound, not even for a moment.
                while (_entries.Last is { } oldest && (_entries.Count + 1 > MaxEntries || Bytes + cache.Bytes > MaxBytes)) Drop(oldest, ref dropped);
                _entries.AddFirst(new Entry(cache, sequence));
                Bytes += cache.Bytes;
            }
        }
        if (dropped is not null)
            foreach (var old in dropped) old.Dispose();
    }

    private void Drop(LinkedListNode<Entry> node, ref List<KvCache>? dropped)
    {
        _entries.Remove(node);
        Bytes -= node.Value.Cache.Bytes;
        (dropped ??= []).Add(node.Value.Cache);
    }

    /// <summary>Releases every retained cache; caches given back later are released at once.</summary>
    public void Dispose()
    {
        List<Entry> entries;
        lock (_lock)
        {
            _disposed = true;
            entries = [.. _entries];
            _entries.Clear();
            Bytes = 0;
        }
        foreach (var entry in entries) entry.Cache.Dispose();
    }
}
