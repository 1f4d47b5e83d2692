using System.CommandLine;
using InternVit.SK.Generation;
using InternVit.SK.Imaging;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl chat MODEL_DIR</c>: an interactive conversation. Each line is a user turn; <c>/image PATH</c> attaches an
/// image to the next turn, <c>/reset</c> starts over, <c>/exit</c> (or end of input) quits.
/// </summary>
internal static class ChatCommand
{
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
            output.WriteLine($"{vlm.Template.Name} model from {vlm.Directory}. /image PATH attaches an image, /reset starts over, /exit quits.");
            while (true)
            {
                output.Write("> ");
                string? line = await input.ReadLineAsync(cancellationToken);
                if (line is null || line.Trim() == "/exit") break;
                line = line.Trim();
                if (line.Length == 0) continue;
                if (line == "/reset")
                {
                    conversation = vlm.StartConversation(generation.SystemPrompt(parse));
                    attached.Clear();
                    output.WriteLine("(new conversation)");
                    continue;
                }
                if (line.StartsWith("/image", StringComparison.Ordinal))
                {
                    string path = line["/image".Length..].Trim().Trim('"');
                    if (!File.Exists(path))
                    {
                        output.WriteLine($"(no such file: {path})");
                        continue;
                    }
                    attached.Add(ImageInput.FromFile(path));
                    output.WriteLine($"(image {attached.Count} attached to the next turn: {Path.GetFileName(path)})");
                    continue;
                }
                try
                {
                    await foreach (var update in conversation.StreamAsync(line, attached.ToArray(), options, cancellationToken))
                        output.Write(update.Text);
                    output.WriteLine();
                }
                catch (Exception e) when (e is ImageDecodeException or ContextWindowExceededException)
                {
                    output.WriteLine($"(not answered: {e.Message})");
                }
                attached.Clear();
            }
            return 0;
        });
        return command;
    }
}
