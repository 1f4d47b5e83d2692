using System.CommandLine;
using InternVit.SK.Checkpoints;
using InternVit.SK.Generation;
using InternVit.SK.Hosting;
using InternVit.SK.Imaging;
using InternVit.SK.Onnx;
using InternVit.SK.Plugin;
using InternVit.SK.Text;

namespace InternVit.SK.Cli;

/// <summary>The <c>internvl</c> command tree. Each command writes to the invocation's output, so tests run it in-process.</summary>
internal static class CliApp
{
    /// <summary>Exit code for a failure that is not the input's fault (a file system that refuses writes, a port in use).</summary>
    public const int RuntimeError = 1;

    /// <summary>Exit code for bad input (a bad option or argument, a checkpoint that cannot be read, a missing file).</summary>
    public const int InputError = 2;

    /// <summary>Exit code after Ctrl-C (128 + SIGINT).</summary>
    public const int Interrupted = 130;

    public static RootCommand Build(TextReader input, ConsoleInterrupt interrupt)
    {
        var root = new RootCommand("InternVL vision-language models on ONNX Runtime, from .NET.");
        root.Add(InfoCommand.Create());
        root.Add(ConvertCommand.Create());
        root.Add(AskCommand.Create(input));
        root.Add(ChatCommand.Create(input, interrupt));
        root.Add(ServeCommand.CreateServe());
        root.Add(ServeCommand.CreateMcp());
        root.Add(InspectCommand.Create());
        root.Add(BenchCommand.Create());
        return root;
    }

    /// <summary>Runs the command line; every error is one line on <paramref name="error"/> and an exit code, never a stack trace.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, TextReader? input = null)
    {
        using var interrupt = new ConsoleInterrupt();
        var parse = Build(input ?? Console.In, interrupt).Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var problem in parse.Errors) error.WriteLine($"internvl: {problem.Message}");
            return InputError;
        }
        try
        {
            // Ctrl-C is handled here (ConsoleInterrupt), not by System.CommandLine, so a chat turn can be stopped alone.
            return parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null },
                interrupt.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (interrupt.Requested)
        {
            error.WriteLine("internvl: interrupted");
            return Interrupted;
        }
        catch (Exception e) when (IsInputError(e))
        {
            error.WriteLine($"internvl: {ErrorText.Of(e)}");
            return InputError;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"internvl: {e.Message}");
            return RuntimeError;
        }
        catch (Exception e)
        {
            error.WriteLine($"internvl: unexpected {e.GetType().Name}: {e.Message}");
            return RuntimeError;
        }
    }

    /// <summary>Errors of the caller's own making: what was asked for is wrong, not the machine.</summary>
    private static bool IsInputError(Exception e) =>
        e is ArgumentException or CheckpointException or TokenizerException or ImageDecodeException or ImageSourceException or OrtLibraryNotFoundException
            or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or ContextWindowExceededException
            or OrtException or Microsoft.Extensions.Options.OptionsValidationException;
}
