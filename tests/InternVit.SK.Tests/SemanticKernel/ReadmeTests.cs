using System.Text.Json;
using InternVit.SK.Tests.Export;

namespace InternVit.SK.Tests.SemanticKernel;

/// <summary>The README's Semantic Kernel example is ReadmeSemanticKernelExample.cs (compiled here), and it runs on the tiny checkpoint.</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ReadmeTests(ConvertedTinyModel tiny)
{
    private const string Marker = "// not in README";

    [Fact]
    public void The_readme_example_is_the_compiled_file()
    {
        string file = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "tests", "InternVit.SK.Tests", "SemanticKernel", "ReadmeSemanticKernelExample.cs"));
        string expected = string.Join("\n", file.Replace("\r\n", "\n").Split('\n').Where(line => !line.TrimEnd().EndsWith(Marker, StringComparison.Ordinal))).Trim();
        Assert.Contains("```csharp\n" + expected + "\n```", File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "README.md")).Replace("\r\n", "\n"));
    }

    [Fact]
    public async Task The_readme_example_runs_on_the_tiny_checkpoint()
    {
        var (answer, text) = await ReadmeSemanticKernelExample.RunAsync(tiny.Directory, Path.Combine(TestPaths.Fixtures, "images"));
        Assert.False(string.IsNullOrEmpty(answer));
        using var json = JsonDocument.Parse(text);
        Assert.Equal(JsonValueKind.Array, json.RootElement.GetProperty("lines").ValueKind);
        Assert.True(json.RootElement.GetProperty("usage").GetProperty("imageTokens").GetInt32() > 0);
    }
}
