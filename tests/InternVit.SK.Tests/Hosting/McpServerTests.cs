using System.Text.Json;
using InternVit.SK.Tests.Export;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace InternVit.SK.Tests.Hosting;

/// <summary><c>internvl mcp</c> as a child process over stdio, driven by the ModelContextProtocol client.</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class McpServerTests(ConvertedTinyModel tiny)
{
    [Fact]
    public async Task A_client_lists_and_calls_the_vision_tools_over_stdio()
    {
        // The CLI this test assembly was built against (copied beside it with its runtimeconfig), not a stale build.
        string cli = typeof(InternVit.SK.Cli.CliApp).Assembly.Location;
        string images = Path.Combine(TestPaths.Fixtures, "images");
        var stderr = new List<string>();
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "internvl",
            Command = "dotnet",
            Arguments = [cli, "mcp", tiny.Directory, "--allow-image-root", images],
            StandardErrorLines = line => { lock (stderr) stderr.Add(line); },
        });
        await using var client = await McpClient.CreateAsync(transport);
        Assert.Equal("internvit-sk", client.ServerInfo?.Name);

        var tools = await client.ListToolsAsync();
        Assert.Equal(["answer_document_question", "ask_image", "describe_image", "extract_text", "locate"], tools.Select(t => t.Name).Order());
        var ask = tools.Single(t => t.Name == "ask_image");
        Assert.False(string.IsNullOrWhiteSpace(ask.Description));
        Assert.Contains("question", ask.JsonSchema.GetRawText());

        var result = await client.CallToolAsync("ask_image", new Dictionary<string, object?> { ["image"] = "table_1600x900.png", ["question"] = "Describe the image." });
        Assert.True(result.IsError is null or false, string.Join("\n", stderr));
        string text = string.Concat(result.Content.OfType<TextContentBlock>().Select(b => b.Text));
        // The tool returns a typed record as JSON; its answer is the one_image golden's greedy text (it never stops early).
        using var json = JsonDocument.Parse(text);
        Assert.StartsWith(".getSelectionModel.getSelectionModel", json.RootElement.GetProperty("answer").GetString());

        var refused = await client.CallToolAsync("ask_image", new Dictionary<string, object?> { ["image"] = "/etc/hostname", ["question"] = "What is it?" });
        Assert.True(refused.IsError);
        Assert.Contains("outside the allowed image folders", string.Concat(refused.Content.OfType<TextContentBlock>().Select(b => b.Text)));
    }
}
