using System.CommandLine;
using InternVit.SK.Generation;
using InternVit.SK.Hosting;
using InternVit.SK.Imaging;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl chat MODEL_DIR</c>: an interactive conversation. Each line is a user turn; <c>/image PATH</c> attaches an
/// image to the next turn, <c>/reset</c> starts over, <c>/exit</c> (or end of input) quits. A turn the model refuses (a
/// special token, an <c>&lt;image&gt;</c> without an image) or one stopped by Ctrl-C is not kept, and the conversation
/// goes on; Ctrl-C at the prompt ends the command.
/// </summary>
internal static class ChatCommand
{
    private const string Commands = "/image PATH attaches an image, /reset starts over, /exit quits";

    public static Command Create(TextReader input, ConsoleInterrupt interrupt)
    {
        var model = new Argument<DirectoryInfo>("MODEL_DIR") { Description = "A converted model folder, or an original InternVL checkpoint (converted once into the cache)." };
        var generation = new GenerationCliOptions();
        var command = new Command("chat", "Chat with the model; /image PATH attaches an image to the next turn, /reset starts over, /exit quits.") { model };
        generation.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var vlm = await generation.LoadAsync(parse, parse.GetRequiredValue(model).FullName, cancellationToken);
            var options = generation.Options(parse);
            var conversation = vlm.StartConversation(generation.SystemPrompt(parse));
            var attached = new List<ImageInput>();
            output.WriteLine($"{vlm.Template.Name} model from {vlm.Directory}. {Commands}; Ctrl-C stops an answer.");
            while (true)
            {
                output.Write("> ");
                // The wait itself is cancellable: a console read does not return on Ctrl-C.
                string? line = await input.ReadLineAsync(cancellationToken).AsTask().WaitAsync(cancellationToken);
                if (line is null) break;
                line = line.Trim();
                if (line.Length == 0) continue;
                if (line.StartsWith('/'))
                {
                    string name = line.Split(' ', 2)[0];
                    if (name == "/exit") break;
                    if (name == "/reset")
                    {
                        conversation = vlm.StartConversation(generation.SystemPrompt(parse));
                        attached.Clear();
                        output.WriteLine("(new conversation)");
                    }
                    else if (name == "/image")
                    {
                        string path = line["/image".Length..].Trim().Trim('"');
                        if (InputChecks.ImageFileProblem(path) is { } problem)
                        {
                            output.WriteLine($"(not attached: {problem})");
                            continue;
                        }
                        attached.Add(ImageInput.FromFile(path));
                        output.WriteLine($"(image {attached.Count} attached to the next turn: {Path.GetFileName(path)})");
                    }
                    else output.WriteLine($"(unknown command {name}; {Commands})");
                    continue;
                }

                var turn = interrupt.BeginTurn();
                try
                {
                    await foreach (var update in conversation.StreamAsync(line, attached.ToArray(), options, turn.Token))
                    {
                        parse.InvocationConfiguration.Error.Write(update.Reasoning); // thinking mode's reasoning, apart from the answer
                        output.Write(update.Text);
                    }
                    output.WriteLine();
                    attached.Clear();
                }
                catch (OperationCanceledException) when (turn.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    output.WriteLine();
                    output.WriteLine("(stopped; the turn and its images are not kept)");
                    attached.Clear();
                }
                catch (Exception e) when (e is ArgumentException or ContextWindowExceededException)
                {
                    output.WriteLine($"(not answered: {ErrorText.Of(e)})");
                }
                catch (ImageDecodeException e)
                {
                    output.WriteLine($"(not answered: {e.Message}; the attached images are dropped)");
                    attached.Clear();
                }
                finally
                {
                    interrupt.EndTurn(turn);
                }
            }
            return 0;
        });
        return command;
    }
}
