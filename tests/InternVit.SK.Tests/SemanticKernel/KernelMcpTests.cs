using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Tests.Export;
using Microsoft.SemanticKernel;
using ModelContextProtocol.Client;

namespace InternVit.SK.Tests.SemanticKernel;

/// <summary>
/// <c>internvl mcp</c> (a child process over stdio, as in McpServerTests) seen from Semantic Kernel: the tools listed by
/// the ModelContextProtocol client become kernel functions and are invoked from a kernel.
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class KernelMcpTests(ConvertedTinyModel tiny)
{
    [Fact]
    public async Task The_mcp_servers_tools_become_kernel_functions_invoked_from_a_kernel()
    {
        string cli = typeof(InternVit.SK.Cli.CliApp).Assembly.Location;
        string images = Path.Combine(TestPaths.Fixtures, "images");
        var stderr = new List<string>();
        await using var client = await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "internvl",
            Command = "dotnet",
            Arguments = [cli, "mcp", tiny.Directory, "--allow-image-root", images],
            StandardErrorLines = line => { lock (stderr) stderr.Add(line); },
        }),
        // The server loads the model before it answers; on a busy machine that outlasts the client's 5 s server/discover
        // probe, after which the client falls back to initialize, which a server already on 2026-07-28 refuses.
        new McpClientOptions { DiscoverProbeTimeout = Timeout.InfiniteTimeSpan });
        var tools = await client.ListToolsAsync();

        var kernel = new Kernel();
        var plugin = kernel.Plugins.AddFromFunctions("internvl", tools.Select(tool => tool.AsKernelFunction()));
        Assert.Equal(["answer_document_question", "ask_image", "describe_image", "extract_text", "locate"], plugin.Select(f => f.Name).Order());
        Assert.All(plugin, f => Assert.False(string.IsNullOrWhiteSpace(f.Description)));
        Assert.Contains(plugin["ask_image"].Metadata.Parameters, p => p.Name == "question" && p.IsRequired);

        var result = await kernel.InvokeAsync("internvl", "ask_image", new KernelArguments { ["image"] = "table_1600x900.png", ["question"] = "Describe the image." });
        var json = ToolRecord(result.GetValue<object>());
        // The server's default is 512 new tokens; the tiny model never stops, so the golden's 24 tokens start the answer.
        var golden = JsonNode.Parse(File.ReadAllText(Goldens.ModelA("manifest.json")))!["prompts"]!["one_image"]!;
        Assert.StartsWith((string)golden["generated_text_skip_special"]!, json.GetProperty("answer").GetString());
        Assert.Equal((int)golden["num_img_context_tokens"]!, json.GetProperty("usage").GetProperty("imageTokens").GetInt32());
        Assert.DoesNotContain(stderr, line => line.Contains("fail", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The tool's record: the MCP tool result (one text content block, serialized) holds it as JSON text.</summary>
    private static JsonElement ToolRecord(object? value)
    {
        var element = ScriptedPlanner.Json(value);
        Assert.Equal("text", element.GetProperty("$type").GetString());
        return JsonDocument.Parse(element.GetProperty("text").GetString()!).RootElement.Clone();
    }
}
