namespace InternVit.SK.Plugin;

/// <summary>
/// Where images may come from when a tool argument or a chat message names one instead of carrying its bytes. Every
/// such argument is untrusted (a planner LLM writes it), so everything is refused unless allowed here: file paths need
/// <see cref="AllowedRoots"/>, URLs need <see cref="AllowUrls"/> and a host in <see cref="AllowedHosts"/>.
/// </summary>
public sealed record ImageSourceOptions
{
    /// <summary>
    /// Folders whose files may be read. A relative path is resolved against the first root. A path is refused when it
    /// has a <c>..</c> segment, when it is absolute and not under a root, or when its real path (every symbolic link
    /// resolved) leaves the roots. Empty (the default): no file is readable.
    /// </summary>
    public IReadOnlyList<string> AllowedRoots { get; init; } = [];

    /// <summary>Most bytes of one encoded image, whatever its source (file, base64, data URI, download). Default 20 MiB.</summary>
    public long MaxImageBytes { get; init; } = 20L << 20;

    /// <summary>Whether http(s) URLs may be downloaded at all (default false).</summary>
    public bool AllowUrls { get; init; }

    /// <summary>
    /// Hosts URLs may name: exact host names (case-insensitive) or <c>*.example.com</c> for its sub-domains. Empty: no
    /// URL passes, even with <see cref="AllowUrls"/>.
    /// </summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>Whether plain <c>http:</c> URLs are allowed besides <c>https:</c> (default false).</summary>
    public bool AllowPlainHttp { get; init; }

    /// <summary>Most time for reading one image: a download, headers and body together, or a file (default 10 s).</summary>
    public TimeSpan DownloadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxImageBytes, nameof(MaxImageBytes));
        if (DownloadTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(DownloadTimeout), DownloadTimeout, "the download timeout must be positive");
        ArgumentNullException.ThrowIfNull(AllowedRoots, nameof(AllowedRoots));
        ArgumentNullException.ThrowIfNull(AllowedHosts, nameof(AllowedHosts));
    }
}

/// <summary>Why an image argument was refused.</summary>
public enum ImageSourceRefusal
{
    /// <summary>The argument is empty or malformed (bad base64, a URI that does not parse).</summary>
    Malformed,

    /// <summary>The source is not allowed by <see cref="ImageSourceOptions"/>: a path outside the roots, a disabled URL, a host not listed, a scheme other than file/http(s)/data.</summary>
    NotAllowed,

    /// <summary>No such file, or the server answered with an error.</summary>
    NotFound,

    /// <summary>More bytes than <see cref="ImageSourceOptions.MaxImageBytes"/>.</summary>
    TooLarge,

    /// <summary>The download took longer than <see cref="ImageSourceOptions.DownloadTimeout"/>.</summary>
    TimedOut,

    /// <summary>A media type that is not an image InternVL reads (PNG, JPEG, WebP, GIF, BMP).</summary>
    UnsupportedMediaType,
}

/// <summary>An image argument (path, URI, base64) was refused; the message says why and never includes file contents.</summary>
public sealed class ImageSourceException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ImageSourceException(ImageSourceRefusal reason, string message, Exception? inner = null) : base(message, inner) => Reason = reason;

    /// <summary>Why the argument was refused.</summary>
    public ImageSourceRefusal Reason { get; }
}
