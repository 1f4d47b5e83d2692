using System.CommandLine;
using InternVit.SK.ModelFolder;

namespace InternVit.SK.Cli;

/// <summary>The <c>--precision</c> option of <c>convert</c> and <c>bench</c>: a <see cref="Precision"/> by its name.</summary>
internal static class PrecisionOption
{
    public static Option<Precision> Create(string description)
    {
        var option = new Option<Precision>("--precision")
        {
            Description = description,
            DefaultValueFactory = _ => Precision.Fp32,
            CustomParser = result => Precisions.Parse(result.Tokens[^1].Value),
        };
        option.AcceptOnlyFromAmong([.. Precisions.All.Select(p => p.Name())]);
        return option;
    }
}
