using System.CommandLine;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl bench ...</c>: time one stage of the pipeline. Each stage's subcommand lives in its own
/// <c>Bench*Command.cs</c> file.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Time one stage of the pipeline.");
        bench.Add(BenchTilesCommand.Create());
        bench.Add(BenchTokensCommand.Create());
        return bench;
    }
}
