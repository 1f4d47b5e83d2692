using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using InternVit.SK.Tests.Cli;

namespace InternVit.SK.Tests.Hosting;

/// <summary>
/// <c>internvl serve</c> as a child process on a loopback port, for tests that measure the server's own memory (the
/// test process's resident memory depends on every other test) or need a process to kill (stand-in engines behind a gateway).
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServerProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>What the server wrote to standard output so far (its console log).</summary>
    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <summary>A loopback port free now.</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>Starts the server on <paramref name="modelDirectory"/> and waits until it answers <c>/v1/models</c>.</summary>
    public static Task<ServerProcess> StartAsync(string modelDirectory) => StartAsync([modelDirectory], FreePort());

    /// <summary>Starts <c>internvl serve ARGS --urls http://127.0.0.1:PORT</c> and waits until it answers <c>/v1/models</c>.</summary>
    public static async Task<ServerProcess> StartAsync(string[] args, int port)
    {
        var address = new Uri($"http://127.0.0.1:{port}/");
        var process = CliRunner.Start(["serve", .. args, "--urls", address.ToString().TrimEnd('/')]);
        var server = new ServerProcess(process, address);
        // Drained (so the server never blocks on a full pipe) and kept, for tests that read the log.
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (server._output) server._output.AppendLine(e.Data);
        };
        process.BeginOutputReadLine();
        _ = process.StandardError.ReadToEndAsync();
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            Assert.False(process.HasExited, $"internvl serve exited with {(process.HasExited ? process.ExitCode : 0)}: {server.Output}");
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

    /// <summary>Kills the server at once (SIGKILL: no graceful shutdown, open connections drop) and waits for it to be gone.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }
}
