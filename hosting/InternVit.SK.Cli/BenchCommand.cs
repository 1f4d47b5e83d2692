using System.CommandLine;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl bench [options]</c> times the whole pipeline at real shapes (<see cref="BenchModelCommand"/>);
/// <c>internvl bench STAGE ...</c> times one stage. Each lives in its own <c>Bench*Command.cs</c> file.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Time the pipeline on a random-weight checkpoint at real shapes, or one stage of it.");
        BenchModelCommand.AddTo(bench);
        bench.Add(BenchTilesCommand.Create());
        bench.Add(BenchTokensCommand.Create());
        return bench;
    }
}
