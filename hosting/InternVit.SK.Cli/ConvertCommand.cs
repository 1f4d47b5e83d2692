using InternVit.SK.ModelFolder;
using System.CommandLine;
using InternVit.SK.Export;

namespace InternVit.SK.Cli;

/// <summary><c>internvl convert HF_DIR OUT_DIR [--precision fp32] [--force]</c>: an InternVL checkpoint (either layout) → a model folder.</summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var source = new Argument<DirectoryInfo>("HF_DIR") { Description = "The checkpoint folder (config.json, model.safetensors, tokenizer files), in the original or the Hugging Face-native layout." };
        var destination = new Argument<DirectoryInfo>("OUT_DIR") { Description = "The model folder to create." };
        var precision = PrecisionOption.Create("Weight precision of the graphs.");
        var force = new Option<bool>("--force") { Description = "Replace an existing model folder." };
        var command = new Command("convert", "Convert an InternVL checkpoint (original or Hugging Face-native layout) into ONNX graphs and a manifest.") { source, destination, precision, force };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var progress = new LineProgress(output);
            var result = await ModelConverter.ConvertAsync(parse.GetRequiredValue(source).FullName, parse.GetRequiredValue(destination).FullName,
                new ConversionOptions { Precision = parse.GetRequiredValue(precision), Force = parse.GetValue(force) }, progress, cancellationToken);
            output.WriteLine(result.Message);
            return 0;
        });
        return command;
    }
}
