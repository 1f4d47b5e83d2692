using System.Net;
using InternVit.SK.Plugin;

namespace InternVit.SK.Tests.Plugin;

/// <summary>
/// The image-argument policy: paths confined to the allowed roots (no '..', no absolute path elsewhere, no symbolic
/// link out of a root), data URIs and base64 with a size limit, URLs only when enabled for listed hosts with size and
/// time limits. No network: downloads go to a fake handler.
/// </summary>
public sealed class ImageSourcesTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _root;
    private readonly string _outside;
    private static readonly byte[] Png = File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "images", "small_50x30.png"));

    public ImageSourcesTests()
    {
        _root = Path.Combine(_dir.Path, "root");
        _outside = Path.Combine(_dir.Path, "outside");
        Directory.CreateDirectory(Path.Combine(_root, "sub"));
        Directory.CreateDirectory(_outside);
        File.WriteAllBytes(Path.Combine(_root, "in.png"), Png);
        File.WriteAllBytes(Path.Combine(_root, "sub", "deep.png"), Png);
        File.WriteAllBytes(Path.Combine(_outside, "secret.png"), Png);
        File.CreateSymbolicLink(Path.Combine(_root, "link-out.png"), Path.Combine(_outside, "secret.png"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "dir-out"), _outside);
        File.CreateSymbolicLink(Path.Combine(_root, "link-in.png"), Path.Combine(_root, "sub", "deep.png"));
    }

    public void Dispose() => _dir.Dispose();

    private ImageSources Sources(ImageSourceOptions? options = null, HttpMessageHandler? handler = null) =>
        new(options ?? new ImageSourceOptions { AllowedRoots = [_root] }, handler);

    private static async Task<ImageSourceRefusal> Refused(ImageSources sources, string argument) =>
        (await Assert.ThrowsAsync<ImageSourceException>(() => sources.ReadAsync(argument, CancellationToken.None))).Reason;

    [Theory]
    [InlineData("in.png")]
    [InlineData("sub/deep.png")]
    [InlineData("./sub/deep.png")]
    [InlineData("link-in.png")] // a link that stays inside the root
    public async Task Reads_files_under_the_root(string relative)
    {
        using var sources = Sources();
        Assert.Equal(Png, (await sources.ReadAsync(relative, CancellationToken.None)).ToArray());
        Assert.Equal(Png, (await sources.ReadAsync(Path.Combine(_root, relative), CancellationToken.None)).ToArray());
        Assert.Equal(Png, (await sources.ReadAsync(new Uri(Path.Combine(_root, relative)).AbsoluteUri, CancellationToken.None)).ToArray());
    }

    [Theory]
    [InlineData("../outside/secret.png")]
    [InlineData("sub/../../outside/secret.png")]
    [InlineData("sub/../in.png")] // even when it would land inside: '..' is refused outright
    [InlineData("link-out.png")]   // a file link out of the root
    [InlineData("dir-out/secret.png")] // a folder link out of the root
    public async Task Refuses_paths_that_leave_the_root(string relative)
    {
        using var sources = Sources();
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, relative));
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, _root + "/" + relative));
    }

    [Fact]
    public async Task Refuses_absolute_paths_and_file_uris_elsewhere()
    {
        using var sources = Sources();
        string secret = Path.Combine(_outside, "secret.png");
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, secret));
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, new Uri(secret).AbsoluteUri));
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, "file:///etc/passwd"));
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, "file://otherhost/share/in.png"));
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, _root + "-sibling/in.png")); // a prefix is not a parent
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, "ftp://example.com/in.png"));
        Assert.Equal(ImageSourceRefusal.NotFound, await Refused(sources, "missing.png"));
    }

    [Fact]
    public async Task Without_roots_no_file_is_readable()
    {
        using var sources = new ImageSources(new ImageSourceOptions());
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, Path.Combine(_root, "in.png")));
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, "in.png"));
        Assert.Throws<DirectoryNotFoundException>(() => new ImageSources(new ImageSourceOptions { AllowedRoots = [Path.Combine(_dir.Path, "nope")] }));
    }

    [Fact]
    public async Task Reads_data_uris_and_base64_up_to_the_size_limit()
    {
        using var sources = Sources();
        string base64 = Convert.ToBase64String(Png);
        Assert.Equal(Png, (await sources.ReadAsync("data:image/png;base64," + base64, CancellationToken.None)).ToArray());
        Assert.Equal(Png, (await sources.ReadAsync(base64, CancellationToken.None)).ToArray());
        foreach (string type in new[] { "image/jpeg", "image/webp", "image/gif", "image/bmp" }) // the decoder sniffs the bytes
            Assert.Equal(Png, (await sources.ReadAsync($"data:{type};base64," + base64, CancellationToken.None)).ToArray());

        Assert.Equal(ImageSourceRefusal.UnsupportedMediaType, await Refused(sources, "data:image/tiff;base64," + base64));
        Assert.Equal(ImageSourceRefusal.UnsupportedMediaType, await Refused(sources, "data:audio/wav;base64," + base64));
        Assert.Equal(ImageSourceRefusal.Malformed, await Refused(sources, "data:image/png," + base64));
        Assert.Equal(ImageSourceRefusal.Malformed, await Refused(sources, "data:image/png;base64,!!!not-base64!!!"));
        Assert.Equal(ImageSourceRefusal.Malformed, await Refused(sources, "   "));

        using var small = new ImageSources(new ImageSourceOptions { MaxImageBytes = Png.Length - 1, AllowedRoots = [_root] });
        Assert.Equal(ImageSourceRefusal.TooLarge, await Refused(small, "data:image/png;base64," + base64));
        Assert.Equal(ImageSourceRefusal.TooLarge, await Refused(small, base64));
        Assert.Equal(ImageSourceRefusal.TooLarge, await Refused(small, "in.png"));
    }

    private sealed class FakeServer(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> answer) : HttpMessageHandler
    {
        public int Requests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Requests);
            return answer(request, cancellationToken);
        }
    }

    private static HttpResponseMessage PngResponse(byte[] body, bool withLength = true)
    {
        HttpContent content = withLength ? new ByteArrayContent(body) : new StreamContent(new MemoryStream(body));
        content.Headers.ContentType = new("image/png");
        if (!withLength) content.Headers.ContentLength = null;
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    private static readonly ImageSourceOptions Urls = new() { AllowUrls = true, AllowedHosts = ["images.example.com", "*.cdn.example.org"] };

    [Fact]
    public async Task Downloads_from_listed_hosts_only_when_enabled()
    {
        var server = new FakeServer((_, _) => Task.FromResult(PngResponse(Png)));
        using (var sources = Sources(Urls, server))
        {
            Assert.Equal(Png, (await sources.ReadAsync("https://images.example.com/a.png", CancellationToken.None)).ToArray());
            Assert.Equal(Png, (await sources.ReadAsync("https://eu.cdn.example.org/a.png", CancellationToken.None)).ToArray());
            Assert.Equal(2, server.Requests);

            Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, "https://evil.example.com/a.png"));
            Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, "https://cdn.example.org/a.png")); // the wildcard means sub-domains
            Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, "https://images.example.com.evil.net/a.png"));
            Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, "http://images.example.com/a.png")); // plain http is off
            Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(sources, "https://user:pw@images.example.com/a.png"));
        }
        using (var disabled = Sources(Urls with { AllowUrls = false }, server))
            Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(disabled, "https://images.example.com/a.png"));
        using (var noHosts = Sources(Urls with { AllowedHosts = [] }, server))
            Assert.Equal(ImageSourceRefusal.NotAllowed, await Refused(noHosts, "https://images.example.com/a.png"));
        using (var plain = Sources(Urls with { AllowPlainHttp = true }, server))
            Assert.Equal(Png, (await plain.ReadAsync("http://images.example.com/a.png", CancellationToken.None)).ToArray());
        Assert.Equal(3, server.Requests); // refused URLs never reached the network
    }

    [Fact]
    public async Task Downloads_are_limited_in_size_and_time_and_follow_no_redirect()
    {
        var big = new byte[Png.Length * 2];
        Png.CopyTo(big, 0);
        var limits = Urls with { MaxImageBytes = big.Length - 1, DownloadTimeout = TimeSpan.FromMilliseconds(200) };
        async Task<ImageSourceRefusal> Answered(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> answer)
        {
            using var sources = Sources(limits, new FakeServer(answer));
            return await Refused(sources, "https://images.example.com/a.png");
        }

        Assert.Equal(ImageSourceRefusal.TooLarge, await Answered((_, _) => Task.FromResult(PngResponse(big))));
        Assert.Equal(ImageSourceRefusal.TooLarge, await Answered((_, _) => Task.FromResult(PngResponse(big, withLength: false)))); // streamed cap
        Assert.Equal(ImageSourceRefusal.TimedOut, await Answered(async (_, ct) => { await Task.Delay(Timeout.Infinite, ct); return PngResponse(Png); }));
        Assert.Equal(ImageSourceRefusal.NotAllowed, await Answered((_, _) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.Found) { Headers = { Location = new Uri("https://evil.example.com/") } })));
        Assert.Equal(ImageSourceRefusal.NotFound, await Answered((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound))));
        Assert.Equal(ImageSourceRefusal.UnsupportedMediaType, await Answered((_, _) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("<html></html>", null, "text/html") })));

        // The caller's own cancellation is not reported as a timeout.
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        using var sources = Sources(Urls, new FakeServer(async (_, ct) => { await Task.Delay(Timeout.Infinite, ct); return PngResponse(Png); }));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sources.ReadAsync("https://images.example.com/a.png", cts.Token));
    }

    [Fact]
    public async Task A_fifo_or_a_folder_inside_a_root_is_refused_at_once_not_waited_on()
    {
        // A FIFO with no writer blocks open(2) for ever; it must be refused without opening it for a blocking read.
        _dir.Fifo(Path.Combine("root", "pipe.png"));
        using var sources = Sources();
        var refusal = Task.Run(() => sources.ReadAsync("pipe.png", CancellationToken.None)).WaitAsync(TimeSpan.FromSeconds(30)); // bounded even if open(2) blocks
        var e = await Assert.ThrowsAsync<ImageSourceException>(() => refusal);
        Assert.Equal(ImageSourceRefusal.NotFound, e.Reason);
        Assert.Equal("the image cannot be read: pipe.png is not a regular file (a FIFO)", e.Message);
        Assert.Equal(ImageSourceRefusal.NotFound, await Refused(sources, "sub"));
    }
}
