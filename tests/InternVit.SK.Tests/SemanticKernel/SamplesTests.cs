using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Tests.Export;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace InternVit.SK.Tests.SemanticKernel;

/// <summary>
/// samples/SemanticKernelVision and samples/AgentVision run as child processes on the converted tiny checkpoint: without
/// a planner (no network at all), and the Semantic Kernel sample with an OpenAI-compatible planner on a loopback port.
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class SamplesTests(ConvertedTinyModel tiny)
{
    private static readonly string Table = Path.Combine(TestPaths.Fixtures, "images", "table_1600x900.png");

    private static string GoldenText =>
        (string)JsonNode.Parse(File.ReadAllText(Goldens.ModelA("manifest.json")))!["prompts"]!["one_image"]!["generated_text_skip_special"]!;

    [Fact]
    public async Task The_semantic_kernel_sample_calls_each_function_without_a_planner()
    {
        string output = await RunAsync("SemanticKernelVision", planner: null, tiny.Directory, Table, "Describe the image.");
        Assert.Contains("no PLANNER_ENDPOINT set", output);
        foreach (string function in new[] { "describe_image", "ask_image", "extract_text", "locate" })
            Assert.Contains($"> vision_{function}(image: table_1600x900.png", output);
        // ask_image's record: the one_image golden starts the 64-token answer (the tiny model never stops).
        Assert.Contains($"\"answer\": \"{GoldenText}", output);
    }

    [Fact]
    public async Task The_semantic_kernel_sample_runs_automatic_function_calling_with_an_openai_compatible_planner()
    {
        var toolResults = new List<string>();
        await using var planner = await FakePlanner.StartAsync(toolResults);
        string output = await RunAsync("SemanticKernelVision", planner.Endpoint, tiny.Directory, Table, "What does the table show?");

        Assert.Contains("> vision_ask_image(image: table_1600x900.png, question: Describe the image.)", output);
        var record = JsonDocument.Parse(Assert.Single(toolResults)).RootElement;
        Assert.StartsWith(GoldenText, record.GetProperty("answer").GetString());
        Assert.Contains("planner: the table's tool result arrived", output);
    }

    [Fact]
    public async Task The_agent_sample_runs_its_agent_with_the_vision_tools()
    {
        string output = await RunAsync("AgentVision", planner: null, tiny.Directory, Table);
        Assert.Contains("describe_image(image: table_1600x900.png, detail: brief)", output);
        Assert.Contains("extract_text(image: table_1600x900.png)", output);
        Assert.Contains("From the vision tools:", output);
        Assert.Contains("\"lines\": [", output);
    }

    /// <summary>Runs a sample's built dll (next to this test assembly's output) and returns its standard output; it must exit 0.</summary>
    private static async Task<string> RunAsync(string sample, Uri? planner, params string[] args)
    {
        var testDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string dll = Path.Combine(testDir.Parent!.Parent!.FullName, sample, testDir.Name, sample + ".dll");
        Assert.True(File.Exists(dll), $"{dll} is not built");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        foreach (string name in new[] { "PLANNER_ENDPOINT", "PLANNER_MODEL", "PLANNER_API_KEY" }) start.Environment.Remove(name);
        if (planner is not null)
        {
            start.Environment["PLANNER_ENDPOINT"] = planner.ToString();
            start.Environment["PLANNER_MODEL"] = "scripted";
            start.Environment["PLANNER_API_KEY"] = "test";
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"{sample} exited with {process.ExitCode}:\n{await stderr}\n{await stdout}");
        return await stdout;
    }

    /// <summary>
    /// An OpenAI-compatible chat completions endpoint on a free loopback port, scripted like a function-calling model:
    /// it asks for vision_ask_image on the table, then answers once it is sent the tool's result (kept for the test).
    /// </summary>
    private sealed class FakePlanner : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private FakePlanner(WebApplication app, Uri endpoint)
        {
            _app = app;
            Endpoint = endpoint;
        }

        public Uri Endpoint { get; }

        public static async Task<FakePlanner> StartAsync(List<string> toolResults)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            var app = builder.Build();
            app.MapPost("/v1/chat/completions", async (HttpContext context) =>
            {
                using var request = await JsonDocument.ParseAsync(context.Request.Body);
                var messages = request.RootElement.GetProperty("messages").EnumerateArray().ToList();
                var tools = request.RootElement.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("function").GetProperty("name").GetString()).ToList();
                var toolMessages = messages.Where(m => m.GetProperty("role").GetString() == "tool").ToList();
                object message;
                if (toolMessages.Count == 0)
                {
                    if (!tools.Contains("vision_ask_image")) return Results.BadRequest("vision_ask_image was not offered");
                    message = new
                    {
                        role = "assistant",
                        content = (string?)null,
                        tool_calls = new[]
                        {
                            new { id = "call_1", type = "function", function = new { name = "vision_ask_image", arguments = """{"image": "table_1600x900.png", "question": "Describe the image."}""" } },
                        },
                    };
                }
                else
                {
                    lock (toolResults) toolResults.AddRange(toolMessages.Select(m => m.GetProperty("content").GetString()!));
                    message = new { role = "assistant", content = "planner: the table's tool result arrived" };
                }
                return Results.Json(new
                {
                    id = "chatcmpl-1", @object = "chat.completion", created = 0, model = "scripted",
                    choices = new[] { new { index = 0, message, finish_reason = toolMessages.Count == 0 ? "tool_calls" : "stop" } },
                    usage = new { prompt_tokens = 1, completion_tokens = 1, total_tokens = 2 },
                });
            });
            await app.StartAsync();
            string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new FakePlanner(app, new Uri(address.TrimEnd('/') + "/v1"));
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
