using System.CommandLine;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl inspect ...</c>: look at one stage of the pipeline in isolation (tiles, tokens, features, logits).
/// Each stage's subcommand lives in its own <c>Inspect*Command.cs</c> file.
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var inspect = new Command("inspect", "Run one stage of the pipeline and show (or save) what it produces.");
        inspect.Add(InspectTilesCommand.Create());
        inspect.Add(InspectTokensCommand.Create());
        inspect.Add(InspectFeaturesCommand.Create());
        inspect.Add(InspectLogitsCommand.Create());
        return inspect;
    }
}
