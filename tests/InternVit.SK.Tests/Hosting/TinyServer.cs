using InternVit.SK.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace InternVit.SK.Tests.Hosting;

/// <summary>The real HTTP server on a free loopback port, serving the converted tiny model.</summary>
internal sealed class TinyServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TinyServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>The server's base address, e.g. http://127.0.0.1:41234/.</summary>
    public Uri Address { get; }

    /// <summary>Where the OpenAI SDK should point: the base address plus /v1.</summary>
    public Uri OpenAiEndpoint => new(Address, "v1");

    public static async Task<TinyServer> StartAsync(string modelDirectory, Action<InternVLOptions>? configure = null)
    {
        var app = InternVLServer.BuildHttpServer(o =>
        {
            o.ModelPath = modelDirectory;
            o.AllowedImageRoots = [Path.Combine(TestPaths.Fixtures, "images")];
            configure?.Invoke(o);
        }, "http://127.0.0.1:0", logging => logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TinyServer(app, new Uri(address.TrimEnd('/') + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
