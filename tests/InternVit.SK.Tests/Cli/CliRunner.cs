using InternVit.SK.Cli;

namespace InternVit.SK.Tests.Cli;

/// <summary>Runs the <c>internvl</c> command tree in-process and captures what it writes.</summary>
internal static class CliRunner
{
    public static (int Code, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = CliApp.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
