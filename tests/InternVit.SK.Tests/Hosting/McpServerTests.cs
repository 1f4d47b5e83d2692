using System.Text.Json;
using InternVit.SK.Tests.Export;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace InternVit.SK.Tests.Hosting;

/// <summary><c>internvl mcp</c> as a child process over stdio, driven by the ModelContextProtocol client.</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class McpServerTests(ConvertedTinyModel tiny)
{
    /// <summary>Starts <c>internvl mcp</c> on the tiny model with <paramref name="options"/>; its standard error lines go to <paramref name="stderr"/>.</summary>
    private async Task<McpClient> StartAsync(List<string> stderr, params string[] options)
    {
        // The CLI this test assembly was built against (copied beside it with its runtimeconfig), not a stale build.
        string cli = typeof(InternVit.SK.Cli.CliApp).Assembly.Location;
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "internvl",
            Command = "dotnet",
            Arguments = [cli, "mcp", tiny.Directory, .. options],
            StandardErrorLines = line => { lock (stderr) stderr.Add(line); },
        });
        // The server loads the model before it answers; on a busy machine that outlasts the client's 5 s discover probe,
        // after which the client falls back to a handshake the server refuses (seen once beside other builds).
        return await McpClient.CreateAsync(transport, new McpClientOptions { DiscoverProbeTimeout = Timeout.InfiniteTimeSpan });
    }

    private static string Text(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(b => b.Text));

    [Fact]
    public async Task A_client_lists_and_calls_the_vision_tools_over_stdio()
    {
        string images = Path.Combine(TestPaths.Fixtures, "images");
        var stderr = new List<string>();
        await using var client = await StartAsync(stderr, "--allow-image-root", images);
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

    [Fact]
    public async Task Limits_hold_and_refusals_are_one_line_tool_errors_naming_the_problem()
    {
        using var root = new TempDir();
        File.Copy(Path.Combine(TestPaths.Fixtures, "images", "table_1600x900.png"), root.File("table.png"));
        root.Fifo("pipe.png");
        var stderr = new List<string>();
        await using var client = await StartAsync(stderr, "--allow-image-root", root.Path, "--max-concurrent", "2", "--max-queue", "2");

        // The enumerated argument carries its values in the schema.
        var describe = (await client.ListToolsAsync()).Single(t => t.Name == "describe_image");
        Assert.Equal(["brief", "normal", "detailed"], describe.JsonSchema.GetProperty("properties").GetProperty("detail").GetProperty("enum").EnumerateArray().Select(v => v.GetString()));

        // Six calls at once (each generates 512 tokens, seconds): two run, two wait, two are refused at once.
        var calls = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => client.CallToolAsync("ask_image",
            new Dictionary<string, object?> { ["image"] = "table.png", ["question"] = "Describe the image." }).AsTask()));
        Assert.Equal(4, calls.Count(c => c.IsError is null or false));
        var busy = calls.Where(c => c.IsError == true).ToArray();
        Assert.Equal(2, busy.Length);
        Assert.All(busy, c => Assert.Equal("the server is busy: too many tool calls are running or waiting; retry shortly", Text(c)));

        // A FIFO in the allowed root is refused at once (it used to block a thread for ever).
        var fifo = await client.CallToolAsync("ask_image", new Dictionary<string, object?> { ["image"] = "pipe.png", ["question"] = "What is it?" })
            .AsTask().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(fifo.IsError);
        Assert.Equal("the image cannot be read: pipe.png is not a regular file (a FIFO)", Text(fifo));

        // A wrong-typed argument names the argument and what it should be.
        var wrong = await client.CallToolAsync("ask_image", new Dictionary<string, object?> { ["image"] = "table.png", ["question"] = 42 });
        Assert.True(wrong.IsError);
        Assert.Equal("argument 'question' must be a string, not a number", Text(wrong));
        var pages = await client.CallToolAsync("answer_document_question", new Dictionary<string, object?> { ["pages"] = "table.png", ["question"] = "What is it?" });
        Assert.Equal("argument 'pages' must be an array, not a string", Text(pages));

        // Each refusal is logged as one line, without a stack trace (the console logger writes in the background).
        string[] log = [];
        for (int attempt = 0; attempt < 100 && !log.Any(line => line.Contains("refused: the image cannot be read")); attempt++)
        {
            await Task.Delay(100);
            lock (stderr) log = [.. stderr];
        }
        Assert.Equal(2, log.Count(line => line.Contains("ask_image refused: the server is busy")));
        Assert.Contains(log, line => line.Contains("ask_image refused: the image cannot be read: pipe.png is not a regular file"));
        Assert.DoesNotContain(log, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }
}
