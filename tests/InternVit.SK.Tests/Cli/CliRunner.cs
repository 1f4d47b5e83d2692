using System.Diagnostics;
using System.Runtime.InteropServices;
using InternVit.SK.Cli;

namespace InternVit.SK.Tests.Cli;

/// <summary>Runs the <c>internvl</c> command tree in-process and captures what it writes, or as a child process.</summary>
internal static partial class CliRunner
{
    public static (int Code, string Output, string Error) Run(params string[] args) => RunWithInput(null, args);

    /// <summary>Runs with <paramref name="input"/> as standard input (for the interactive commands).</summary>
    public static (int Code, string Output, string Error) RunWithInput(string? input, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var reader = new StringReader(input ?? "");
        int code = CliApp.Run(args, output, error, reader);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>
    /// Starts the CLI this test assembly was built against (copied beside it with its runtimeconfig) as a child process,
    /// standard input, output and error redirected: for what only a process has (signals, its command line, its console log).
    /// </summary>
    public static Process Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(typeof(CliApp).Assembly.Location);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        start.Environment.Remove("ORT_DISABLE_TELEMETRY"); // what the CLI does about it is under test
        return Process.Start(start)!;
    }

    /// <summary>Sends SIGINT (what Ctrl-C sends) to <paramref name="process"/>.</summary>
    public static void Interrupt(Process process) => Assert.Equal(0, Kill(process.Id, 2));

    /// <summary>Waits at most <paramref name="timeout"/> for the process to end (killing it otherwise) and returns its exit code and remaining output.</summary>
    public static async Task<(int Code, string Output, string Error)> FinishAsync(Process process, TimeSpan timeout)
    {
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the CLI did not end within {timeout.TotalSeconds} s");
        }
        return (process.ExitCode, await output, await error);
    }

    /// <summary>Reads <paramref name="reader"/> until its text so far contains <paramref name="marker"/>; fails after <paramref name="timeout"/> or at the end.</summary>
    public static async Task<string> ReadUntilAsync(StreamReader reader, string marker, TimeSpan timeout)
    {
        var text = new System.Text.StringBuilder();
        var buffer = new char[256];
        using var cancel = new CancellationTokenSource(timeout);
        while (!text.ToString().Contains(marker, StringComparison.Ordinal))
        {
            int read = await reader.ReadAsync(buffer, cancel.Token);
            Assert.True(read > 0, $"the output ended before '{marker}': {text}");
            text.Append(buffer, 0, read);
        }
        return text.ToString();
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
