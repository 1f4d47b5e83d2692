using System.CommandLine;
using InternVit.SK.Checkpoints;
using InternVit.SK.Generation;
using InternVit.SK.Imaging;
using InternVit.SK.Onnx;
using InternVit.SK.Text;

namespace InternVit.SK.Cli;

/// <summary>The <c>internvl</c> command tree. Each command writes to the invocation's output, so tests run it in-process.</summary>
internal static class CliApp
{
    /// <summary>Exit code for bad input (a checkpoint that cannot be read, a missing file).</summary>
    public const int InputError = 2;

    public static RootCommand Build(TextReader? input = null)
    {
        var root = new RootCommand("InternVL vision-language models on ONNX Runtime, from .NET.");
        root.Add(InfoCommand.Create());
        root.Add(ConvertCommand.Create());
        root.Add(AskCommand.Create());
        root.Add(ChatCommand.Create(input ?? Console.In));
        root.Add(ServeCommand.CreateServe());
        root.Add(ServeCommand.CreateMcp());
        root.Add(InspectCommand.Create());
        root.Add(BenchCommand.Create());
        return root;
    }

    public static int Run(string[] args, TextWriter output, TextWriter error, TextReader? input = null)
    {
        var parse = Build(input).Parse(args);
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is CheckpointException or TokenizerException or ImageDecodeException or OrtException or OrtLibraryNotFoundException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or ContextWindowExceededException or Microsoft.Extensions.Options.OptionsValidationException)
        {
            error.WriteLine($"internvl: {e.Message}");
            return InputError;
        }
    }
}
