using InternVit.SK.Cli;

namespace InternVit.SK.Tests.Cli;

/// <summary>Runs the <c>internvl</c> command tree in-process and captures what it writes.</summary>
internal static class CliRunner
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
}
