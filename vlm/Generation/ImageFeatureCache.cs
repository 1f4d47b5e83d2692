using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Tiling;

namespace InternVit.SK.Generation;

/// <summary>
/// The projected features of recently seen images, one cache per loaded model, shared by every conversation, client,
/// tool and server on it: a repeated image costs a hash of its bytes and a lookup (no decode, no tiling, no vision
/// pass). Keyed by <see cref="KeyOf"/> — the image's content and every setting that changes its features — evicted least
/// recently used beyond <see cref="MaxBytes"/>. Thread-safe. The features are immutable, so a hit is shared, not copied.
/// </summary>
internal sealed class ImageFeatureCache
{
    private readonly Lock _lock = new();
    private readonly Dictionary<UInt128, LinkedListNode<(UInt128 Key, ImageFeatures Features)>> _entries = [];
    private readonly LinkedList<(UInt128 Key, ImageFeatures Features)> _recency = []; // most recent first

    internal ImageFeatureCache(long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        MaxBytes = maxBytes;
    }

    /// <summary>Most bytes of features held; 0 turns the cache off.</summary>
    public long MaxBytes { get; }

    /// <summary>Bytes of features held now (never more than <see cref="MaxBytes"/>).</summary>
    public long Bytes { get; private set; }

    /// <summary>Images held now.</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _entries.Count;
        }
    }

    /// <summary>The features of <paramref name="key"/>, marked most recently used.</summary>
    public bool TryGet(UInt128 key, out ImageFeatures features)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var node))
            {
                _recency.Remove(node);
                _recency.AddFirst(node);
                features = node.Value.Features;
                return true;
            }
        }
        features = null!;
        return false;
    }

    /// <summary>Holds <paramref name="features"/> under <paramref name="key"/>, evicting the least recently used beyond the bound (an image larger than the bound is not held).</summary>
    public void Add(UInt128 key, ImageFeatures features)
    {
        long size = SizeOf(features);
        if (size > MaxBytes) return;
        lock (_lock)
        {
            if (_entries.ContainsKey(key)) return; // encoded twice at once: the first is as good
            while (Bytes + size > MaxBytes && _recency.Last is { } oldest)
            {
                _recency.RemoveLast();
                _entries.Remove(oldest.Value.Key);
                Bytes -= SizeOf(oldest.Value.Features);
            }
            _entries[key] = _recency.AddFirst((key, features));
            Bytes += size;
        }
    }

    /// <summary>Drops every entry.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _entries.Clear();
            _recency.Clear();
            Bytes = 0;
        }
    }

    /// <summary>Accounted bytes of an entry: its float32 features.</summary>
    internal static long SizeOf(ImageFeatures features) => (long)features.Values.Length * sizeof(float);

    /// <summary>
    /// The identity of <paramref name="image"/>'s features: SHA-256 (first 128 bits) over the encoded bytes (or the file's
    /// bytes, or a decoded image's size and pixels) and everything that changes what the vision encoder gets — the decode
    /// options (EXIF orientation, alpha, and the limits, so a stricter request is still refused) and the tiling (tile
    /// size, tile range, thumbnail). The model is the cache's own. Null when the content is over the decode limit (the
    /// decoder refuses it).
    /// </summary>
    internal static UInt128? KeyOf(ImageInput image, ImageDecodeOptions? decoding, TilingOptions tiling)
    {
        decoding ??= ImageDecodeOptions.Default;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AppendInt64(hash, decoding.ApplyExifOrientation ? 1 : 0);
        AppendInt64(hash, decoding.CompositeAlphaOnWhite ? 1 : 0);
        AppendInt64(hash, decoding.MaxEncodedBytes);
        AppendInt64(hash, decoding.MaxPixels);
        AppendInt64(hash, tiling.ImageSize);
        AppendInt64(hash, tiling.MinTiles);
        AppendInt64(hash, tiling.MaxTiles);
        AppendInt64(hash, tiling.UseThumbnail ? 1 : 0);
        if (!image.AppendContent(hash, decoding.MaxEncodedBytes)) return null;
        Span<byte> digest = stackalloc byte[32];
        hash.GetHashAndReset(digest);
        return BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }

    /// <summary>Appends <paramref name="value"/>, little-endian.</summary>
    internal static void AppendInt64(IncrementalHash hash, long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        hash.AppendData(bytes);
    }

    /// <summary>Appends <paramref name="stream"/>'s bytes to <paramref name="hash"/> through a pooled buffer.</summary>
    internal static void AppendStream(IncrementalHash hash, Stream stream)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0) hash.AppendData(buffer, 0, read);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
