using InternVit.SK.Imaging;

namespace InternVit.SK.Generation;

/// <summary>
/// An image attached to a user turn: encoded bytes (JPEG, PNG, WebP, GIF or BMP), a file, or an already decoded image, with an
/// optional per-image tile limit. Decoding happens when the turn is generated.
/// </summary>
public sealed class ImageInput
{
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly string? _path;
    private readonly DecodedImage? _decoded;

    private ImageInput(ReadOnlyMemory<byte> bytes, string? path, DecodedImage? decoded, int? maxTiles)
    {
        Imaging.Tiling.TilingOptions.CheckMaxTiles(maxTiles, nameof(maxTiles));
        _bytes = bytes;
        _path = path;
        _decoded = decoded;
        MaxTiles = maxTiles;
    }

    /// <summary>Most tiles for this image (null: the generation's or the model's default).</summary>
    public int? MaxTiles { get; }

    /// <summary>A file name for messages, when the image came from a file.</summary>
    public string? Name => _path is null ? null : Path.GetFileName(_path);

    /// <summary>An image from its encoded bytes (the bytes are not copied; do not change them).</summary>
    public static ImageInput FromBytes(ReadOnlyMemory<byte> data, int? maxTiles = null) => new(data, null, null, maxTiles);

    /// <summary>An image file, read when the turn is generated.</summary>
    public static ImageInput FromFile(string path, int? maxTiles = null) => new(default, Path.GetFullPath(path), null, maxTiles);

    /// <summary>An image read to the end of <paramref name="stream"/> now.</summary>
    public static async Task<ImageInput> FromStreamAsync(Stream stream, int? maxTiles = null, CancellationToken cancellationToken = default)
    {
        var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return new ImageInput(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), null, null, maxTiles);
    }

    /// <summary>An already decoded RGB image; the caller keeps ownership and must keep it alive until generation ends.</summary>
    public static ImageInput FromImage(DecodedImage image, int? maxTiles = null) => new(default, null, image ?? throw new ArgumentNullException(nameof(image)), maxTiles);

    /// <summary>
    /// Appends what the image is made of to <paramref name="hash"/> (for <see cref="ImageFeatureCache.KeyOf"/>): a kind tag,
    /// then the encoded bytes, the file's bytes, or a decoded image's size and pixels. False, with nothing decided, when
    /// encoded content is over <paramref name="maxEncodedBytes"/> (decoding refuses it).
    /// </summary>
    internal bool AppendContent(System.Security.Cryptography.IncrementalHash hash, long maxEncodedBytes)
    {
        if (_decoded is not null)
        {
            ImageFeatureCache.AppendInt64(hash, 3);
            ImageFeatureCache.AppendInt64(hash, _decoded.Width);
            ImageFeatureCache.AppendInt64(hash, _decoded.Height);
            hash.AppendData(_decoded.Pixels);
            return true;
        }
        if (_path is not null)
        {
            using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            if (stream.Length > maxEncodedBytes) return false;
            ImageFeatureCache.AppendInt64(hash, 1);
            ImageFeatureCache.AppendStream(hash, stream);
            return true;
        }
        if (_bytes.Length > maxEncodedBytes) return false;
        ImageFeatureCache.AppendInt64(hash, 1);
        hash.AppendData(_bytes.Span);
        return true;
    }

    /// <summary>Decodes the image; <paramref name="owned"/> says whether the caller must dispose the result.</summary>
    internal DecodedImage Decode(ImageDecodeOptions? options, out bool owned)
    {
        owned = _decoded is null;
        if (_decoded is not null) return _decoded;
        return _path is not null ? ImageDecoder.DecodeFile(_path, options) : ImageDecoder.Decode(_bytes.Span, options);
    }
}
