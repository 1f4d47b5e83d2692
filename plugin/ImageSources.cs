using System.Buffers.Text;
using System.Net;

namespace InternVit.SK.Plugin;

/// <summary>
/// Turns an untrusted image argument into encoded bytes under an <see cref="ImageSourceOptions"/> policy. The one place
/// that reads files, file: URIs, data URIs, base64 and URLs for both the chat client and the tools:
/// <list type="bullet">
/// <item><c>data:image/png;base64,…</c> (PNG, JPEG, WebP, GIF or BMP), or bare base64 (long, base64 characters only, no dot);</item>
/// <item><c>http(s)://…</c> only when <see cref="ImageSourceOptions.AllowUrls"/> and the host is listed; redirects are
/// not followed; the body is read up to the size limit within the timeout;</item>
/// <item>anything else is a file path (or a <c>file:</c> URI) confined to <see cref="ImageSourceOptions.AllowedRoots"/>:
/// no <c>..</c> segment, absolute paths only under a root, and the real path (symbolic links resolved component by
/// component) under a root's real path.</item>
/// </list>
/// </summary>
internal sealed class ImageSources : IDisposable
{
    /// <summary>The media types InternVL's decoder reads.</summary>
    internal static readonly IReadOnlySet<string> ImageMediaTypes = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp" };

    private const int MaxLinkDepth = 40;
    private static readonly StringComparison PathComparison =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    private readonly ImageSourceOptions _options;
    private readonly (string Full, string Real)[] _roots;
    private readonly HttpMessageHandler? _handler;
    private readonly Lazy<HttpClient> _http;

    /// <summary>Creates a resolver; <paramref name="handler"/> replaces the network for tests (not disposed here).</summary>
    /// <exception cref="DirectoryNotFoundException">An allowed root does not exist.</exception>
    public ImageSources(ImageSourceOptions? options, HttpMessageHandler? handler = null)
    {
        _options = options ?? new ImageSourceOptions();
        _options.Validate();
        _roots = _options.AllowedRoots.Select(root =>
        {
            string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
            if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"allowed image root not found: {full}");
            return (full, Path.TrimEndingDirectorySeparator(RealPath(full)));
        }).ToArray();
        _handler = handler;
        _http = new Lazy<HttpClient>(CreateHttpClient);
    }

    /// <summary>The policy in force.</summary>
    public ImageSourceOptions Options => _options;

    /// <summary>Reads the image <paramref name="argument"/> names or carries.</summary>
    /// <exception cref="ImageSourceException">The argument is refused; <see cref="ImageSourceException.Reason"/> says why.</exception>
    public async Task<ReadOnlyMemory<byte>> ReadAsync(string argument, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(argument)) throw new ImageSourceException(ImageSourceRefusal.Malformed, "the image argument is empty");
        string text = argument.Trim();
        if (text.StartsWith("data:", StringComparison.OrdinalIgnoreCase)) return FromDataUri(text);
        if (text.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            return await DownloadAsync(text, cancellationToken).ConfigureAwait(false);
        if (text.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri)) throw new ImageSourceException(ImageSourceRefusal.Malformed, "the file: URI does not parse");
            return await ReadFileAsync(uri, cancellationToken).ConfigureAwait(false);
        }
        if (HasOtherScheme(text)) throw new ImageSourceException(ImageSourceRefusal.NotAllowed, $"the URI scheme '{text[..text.IndexOf(':')]}' is not allowed; use a path, file:, data: or http(s):");
        if (LooksLikeBase64(text)) return FromBase64(text);
        return await ReadFileAsync(text, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads a <c>file:</c> URI under the roots (what the chat client does with a <c>UriContent</c>).</summary>
    public Task<ReadOnlyMemory<byte>> ReadFileAsync(Uri uri, CancellationToken cancellationToken)
    {
        if (!uri.IsAbsoluteUri || !uri.IsFile) throw new ImageSourceException(ImageSourceRefusal.NotAllowed, $"only file: URIs name local images, not '{uri.Scheme}:'");
        if (!string.IsNullOrEmpty(uri.Host) && !uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
            throw new ImageSourceException(ImageSourceRefusal.NotAllowed, "file: URIs naming another host are not allowed");
        // A '..' in the URI text is normalized away by Uri itself; refuse it before that can hide an escape.
        if (HasParentSegment(Uri.UnescapeDataString(uri.OriginalString)))
            throw new ImageSourceException(ImageSourceRefusal.NotAllowed, "paths with '..' segments are not allowed");
        return ReadFileAsync(uri.LocalPath, cancellationToken);
    }

    /// <summary>Reads a file path confined to the roots.</summary>
    public async Task<ReadOnlyMemory<byte>> ReadFileAsync(string path, CancellationToken cancellationToken)
    {
        string real = Confine(path);
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        try
        {
            handle = RegularFile.OpenRead(real); // a FIFO or a device is refused, never waited on
        }
        catch (IOException e)
        {
            throw new ImageSourceException(ImageSourceRefusal.NotFound, $"the image cannot be read: {e.Message}", e);
        }
        using (handle)
        {
            long length = RandomAccess.GetLength(handle);
            if (length > _options.MaxImageBytes)
                throw new ImageSourceException(ImageSourceRefusal.TooLarge, $"the file is {length:N0} bytes, more than the limit of {_options.MaxImageBytes:N0}");
            var bytes = new byte[length];
            var read = ReadAllAsync(handle, bytes, cancellationToken);
            try
            {
                await read.WaitAsync(_options.DownloadTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException e)
            {
                throw new ImageSourceException(ImageSourceRefusal.TimedOut, $"reading the file took longer than {_options.DownloadTimeout.TotalSeconds:0.#} s", e);
            }
            return bytes.AsMemory(0, await read.ConfigureAwait(false));
        }
    }

    private static async Task<int> ReadAllAsync(Microsoft.Win32.SafeHandles.SafeFileHandle handle, byte[] buffer, CancellationToken cancellationToken)
    {
        int total = 0, read;
        while (total < buffer.Length && (read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(total), total, cancellationToken).ConfigureAwait(false)) > 0)
            total += read;
        return total;
    }

    /// <summary>The real path of an existing file <paramref name="path"/> names, if the policy allows it.</summary>
    internal string Confine(string path)
    {
        if (path.Contains('\0')) throw new ImageSourceException(ImageSourceRefusal.Malformed, "the path holds a NUL character");
        if (_roots.Length == 0) throw new ImageSourceException(ImageSourceRefusal.NotAllowed, "reading image files is not enabled: no allowed roots are configured");
        if (HasParentSegment(path)) throw new ImageSourceException(ImageSourceRefusal.NotAllowed, "paths with '..' segments are not allowed");
        string full = Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(_roots[0].Full, path));
        if (!_roots.Any(root => IsUnder(full, root.Full)))
            throw new ImageSourceException(ImageSourceRefusal.NotAllowed, "the path is outside the allowed image folders");
        if (!File.Exists(full)) throw new ImageSourceException(ImageSourceRefusal.NotFound, $"no such image file: {Path.GetFileName(full)}");
        string real;
        try
        {
            real = RealPath(full);
        }
        catch (IOException e)
        {
            throw new ImageSourceException(ImageSourceRefusal.NotFound, $"the path cannot be resolved: {Path.GetFileName(full)}", e);
        }
        if (!_roots.Any(root => IsUnder(real, root.Real)))
            throw new ImageSourceException(ImageSourceRefusal.NotAllowed, "the path leads outside the allowed image folders through a symbolic link");
        return real;
    }

    private ReadOnlyMemory<byte> FromDataUri(string text)
    {
        int comma = text.IndexOf(',');
        if (comma < 0) throw new ImageSourceException(ImageSourceRefusal.Malformed, "the data URI has no ',' before its data");
        string header = text[5..comma];
        string[] parts = header.Split(';');
        string mediaType = parts[0].Trim();
        if (!parts.Skip(1).Any(p => p.Trim().Equals("base64", StringComparison.OrdinalIgnoreCase)))
            throw new ImageSourceException(ImageSourceRefusal.Malformed, "only base64 data URIs are supported");
        CheckMediaType(mediaType);
        return FromBase64(text[(comma + 1)..]);
    }

    private ReadOnlyMemory<byte> FromBase64(string text)
    {
        long decodedLength = (long)text.Length * 3 / 4;
        if (decodedLength > _options.MaxImageBytes + 3)
            throw new ImageSourceException(ImageSourceRefusal.TooLarge, $"the base64 image is about {decodedLength:N0} bytes, more than the limit of {_options.MaxImageBytes:N0}");
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(text);
        }
        catch (FormatException e)
        {
            throw new ImageSourceException(ImageSourceRefusal.Malformed, "the image data is not valid base64", e);
        }
        if (bytes.Length > _options.MaxImageBytes)
            throw new ImageSourceException(ImageSourceRefusal.TooLarge, $"the image is {bytes.Length:N0} bytes, more than the limit of {_options.MaxImageBytes:N0}");
        return bytes;
    }

    private async Task<ReadOnlyMemory<byte>> DownloadAsync(string text, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri)) throw new ImageSourceException(ImageSourceRefusal.Malformed, "the URL does not parse");
        CheckUrl(uri);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.DownloadTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            using var response = await _http.Value.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400) throw new ImageSourceException(ImageSourceRefusal.NotAllowed, $"the server answered {status} (a redirect); redirects are not followed");
            if (!response.IsSuccessStatusCode) throw new ImageSourceException(ImageSourceRefusal.NotFound, $"the server answered {status} {response.ReasonPhrase}");
            if (response.Content.Headers.ContentType?.MediaType is { } mediaType) CheckMediaType(mediaType);
            if (response.Content.Headers.ContentLength > _options.MaxImageBytes)
                throw new ImageSourceException(ImageSourceRefusal.TooLarge, $"the download is {response.Content.Headers.ContentLength:N0} bytes, more than the limit of {_options.MaxImageBytes:N0}");
            await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            var buffer = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(chunk, timeout.Token).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > _options.MaxImageBytes)
                    throw new ImageSourceException(ImageSourceRefusal.TooLarge, $"the download exceeds the limit of {_options.MaxImageBytes:N0} bytes");
                buffer.Write(chunk, 0, read);
            }
            return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ImageSourceException(ImageSourceRefusal.TimedOut, $"the download took longer than {_options.DownloadTimeout.TotalSeconds:0.#} s", e);
        }
        catch (HttpRequestException e)
        {
            throw new ImageSourceException(ImageSourceRefusal.NotFound, $"the download failed: {e.Message}", e);
        }
    }

    private void CheckUrl(Uri uri)
    {
        if (!_options.AllowUrls) throw new ImageSourceException(ImageSourceRefusal.NotAllowed, "downloading images from URLs is not enabled");
        if (uri.Scheme == Uri.UriSchemeHttp && !_options.AllowPlainHttp)
            throw new ImageSourceException(ImageSourceRefusal.NotAllowed, "plain http: URLs are not allowed; use https:");
        if (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
            throw new ImageSourceException(ImageSourceRefusal.NotAllowed, $"the URL scheme '{uri.Scheme}' is not allowed");
        if (!string.IsNullOrEmpty(uri.UserInfo)) throw new ImageSourceException(ImageSourceRefusal.NotAllowed, "URLs with user information are not allowed");
        if (!IsHostAllowed(uri.IdnHost)) throw new ImageSourceException(ImageSourceRefusal.NotAllowed, $"the host '{uri.IdnHost}' is not in the allowed hosts");
    }

    private bool IsHostAllowed(string host)
    {
        foreach (string allowed in _options.AllowedHosts)
        {
            if (allowed.StartsWith("*.", StringComparison.Ordinal))
            {
                if (host.Length > allowed.Length - 1 && host.EndsWith(allowed[1..], StringComparison.OrdinalIgnoreCase)) return true;
            }
            else if (host.Equals(allowed, StringComparison.OrdinalIgnoreCase)) return true;
        }
        return false;
    }

    /// <summary>Refuses a media type other than PNG, JPEG, WebP, GIF or BMP, naming it.</summary>
    internal static void CheckMediaType(string mediaType)
    {
        if (!ImageMediaTypes.Contains(mediaType))
            throw new ImageSourceException(ImageSourceRefusal.UnsupportedMediaType, $"the media type '{mediaType}' is not supported; InternVL reads image/png, image/jpeg, image/webp, image/gif and image/bmp");
    }

    private HttpClient CreateHttpClient() =>
        _handler is not null
            ? new HttpClient(_handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan }
            : new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None, ConnectTimeout = _options.DownloadTimeout })
            { Timeout = Timeout.InfiniteTimeSpan };

    private static bool HasParentSegment(string path) => path.Split('/', '\\').Any(segment => segment == "..");

    /// <summary>A URI scheme of two or more characters (one letter followed by ':' is a Windows drive).</summary>
    private static bool HasOtherScheme(string text)
    {
        int colon = text.IndexOf(':');
        if (colon < 2) return false;
        for (int i = 0; i < colon; i++)
        {
            char c = text[i];
            if (!(char.IsAsciiLetter(c) || (i > 0 && (char.IsAsciiDigit(c) || c is '+' or '-' or '.')))) return false;
        }
        return true;
    }

    /// <summary>Bare base64: long, only base64 characters and no dot (an image path has an extension; base64 never has a dot).</summary>
    private static bool LooksLikeBase64(string text) => text.Length >= 64 && Base64.IsValid(text);

    private static bool IsUnder(string path, string root) =>
        path.Length > root.Length && path.StartsWith(root, PathComparison) && (path[root.Length] == Path.DirectorySeparatorChar || path[root.Length] == Path.AltDirectorySeparatorChar);

    /// <summary>The path with every symbolic link resolved, component by component (what realpath(3) gives).</summary>
    internal static string RealPath(string fullPath, int depth = 0)
    {
        if (depth > MaxLinkDepth) throw new IOException("too many levels of symbolic links");
        string root = Path.GetPathRoot(fullPath) ?? throw new IOException("the path has no root");
        string current = root;
        foreach (string segment in fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            string next = Path.Combine(current, segment);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.LinkTarget is not null)
            {
                string target = Path.GetFullPath(info.LinkTarget, current);
                next = RealPath(target, depth + 1);
            }
            current = next;
        }
        return current;
    }

    public void Dispose()
    {
        if (_http.IsValueCreated) _http.Value.Dispose();
    }
}
