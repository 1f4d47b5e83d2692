using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using InternVit.SK.Tests.Cli;

namespace InternVit.SK.Tests.Hosting;

/// <summary>
/// <c>internvl serve</c> as a child process on a free loopback port, for tests that measure the server's own memory
/// (the test process's resident memory depends on every other test).
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>Starts the server on <paramref name="modelDirectory"/> and waits until it answers <c>/v1/models</c>.</summary>
    public static async Task<ServerProcess> StartAsync(string modelDirectory)
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var address = new Uri($"http://127.0.0.1:{port}/");
        var process = CliRunner.Start("serve", modelDirectory, "--urls", address.ToString().TrimEnd('/'));
        _ = process.StandardOutput.ReadToEndAsync(); // drained, so the server never blocks on a full pipe
        _ = process.StandardError.ReadToEndAsync();
        var server = new ServerProcess(process, address);
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            Assert.False(process.HasExited, $"internvl serve exited with {(process.HasExited ? process.ExitCode : 0)}");
            try
            {
                using var response = await http.GetAsync("v1/models");
                if (response.IsSuccessStatusCode) return server;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            Assert.True(DateTime.UtcNow < deadline, "internvl serve did not answer within 2 minutes");
            await Task.Delay(200);
        }
    }

    /// <summary>The server's resident memory (VmRSS), after it has been idle for <paramref name="settle"/>.</summary>
    public async Task<long> ResidentBytesAsync(TimeSpan settle)
    {
        await Task.Delay(settle);
        foreach (string line in await File.ReadAllLinesAsync($"/proc/{_process.Id}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException("no VmRSS line");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
