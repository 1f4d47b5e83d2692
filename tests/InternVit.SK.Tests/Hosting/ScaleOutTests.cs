using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Hosting;
using Microsoft.AspNetCore.Hosting;
using InternVit.SK.Plugin;
using InternVit.SK.Tests.Cli;
using InternVit.SK.Tests.Export;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Hosting;

/// <summary>
/// Issue 21: the tools, the chat client and the server over remote engines. <c>internvl serve</c> processes on the tiny
/// checkpoint stand in for vLLM (they read the same request fields), with a gateway (<c>Backend = openai</c>) in front.
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ScaleOutTests(ConvertedTinyModel tiny, ITestOutputHelper output)
{
    private static readonly string Images = Path.Combine(TestPaths.Fixtures, "images");
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(3);

    private const string ModelId = "model"; // the converted tiny model's folder name, what the engines serve

    private static Task<TinyServer> StartGatewayAsync(string modelDirectory, IEnumerable<Uri> engines, Action<InternVit.SK.Hosting.InternVLOptions>? configure = null) =>
        TinyServer.StartAsync(modelDirectory, o =>
        {
            o.Backend = "openai";
            o.BackendEndpoints = [.. engines.Select(e => e.ToString())];
            o.ModelId = ModelId;
            o.BackendHealthCheckInterval = TimeSpan.FromMilliseconds(300);
            configure?.Invoke(o);
        });

    private static async Task<JsonObject> InvokeAsync(VisionTools tools, string name, string json)
    {
        var function = tools.AsAIFunctions().Single(f => f.Name == name);
        object? result = await function.InvokeAsync(new AIFunctionArguments(JsonSerializer.Deserialize<Dictionary<string, object?>>(json)!));
        return JsonNode.Parse(Assert.IsType<JsonElement>(result).GetRawText())!.AsObject();
    }

    public static TheoryData<InternVLRemoteEngine> Engines => new() { InternVLRemoteEngine.Vllm, InternVLRemoteEngine.Lmdeploy };

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task The_vision_tools_over_the_gateway_give_the_local_results(InternVLRemoteEngine engine)
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        await using var gateway = await StartGatewayAsync(tiny.Directory, [server.OpenAiEndpoint]);
        using var remote = new InternVLRemoteChatClient(new InternVLRemoteOptions { Endpoints = [gateway.OpenAiEndpoint], ModelId = ModelId, Engine = engine });
        // Two tiles at most: the limit must reach the engine (vLLM's mm_processor_kwargs, lmdeploy's image part) to match.
        var options = new VisionToolsOptions { ImageSources = new() { AllowedRoots = [Images] }, MaxOutputTokens = 12, MaxTiles = 2 };
        using var overGateway = new VisionTools(remote, options);
        using var local = new VisionTools(tiny.Model, options);
        using var localDefaultTiles = new VisionTools(tiny.Model, options with { MaxTiles = null });

        (string Tool, string Arguments)[] calls =
        [
            ("describe_image", """{"image": "table_1600x900.png", "detail": "brief"}"""),
            ("describe_image", """{"image": "table_1600x900.png", "detail": "detailed"}"""),
            ("ask_image", """{"image": "table_1600x900.png", "question": "What is in the first row?"}"""),
            ("extract_text", """{"image": "receipt_576x1400.png"}"""),
            ("answer_document_question", """{"pages": ["paragraph_gray_1240x1754.png", "receipt_576x1400.png"], "question": "What is the total?"}"""),
            ("locate", """{"image": "exif_rot6_600x400.jpg", "phrase": "the red car"}"""),
        ];
        foreach (var (tool, arguments) in calls)
        {
            var expected = await InvokeAsync(local, tool, arguments);
            var actual = await InvokeAsync(overGateway, tool, arguments);
            // The OpenAI protocol has no image-token count: the remote usage says null, never a made-up number.
            Assert.True(expected["usage"]!["imageTokens"]!.GetValue<int>() > 0);
            Assert.Null(actual["usage"]!["imageTokens"]);
            expected["usage"]!.AsObject().Remove("imageTokens");
            actual["usage"]!.AsObject().Remove("imageTokens");
            Assert.Equal(expected.ToJsonString(), actual.ToJsonString());
            output.WriteLine($"{tool}: {actual.ToJsonString()}");
        }
        // The tile limit changed the prompt: had it been dropped on the way, the engine would have used its default.
        var twoTiles = await InvokeAsync(overGateway, "ask_image", """{"image": "table_1600x900.png", "question": "What?"}""");
        var defaultTiles = await InvokeAsync(localDefaultTiles, "ask_image", """{"image": "table_1600x900.png", "question": "What?"}""");
        Assert.True(twoTiles["usage"]!["promptTokens"]!.GetValue<int>() < defaultTiles["usage"]!["promptTokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task The_chat_client_streams_the_local_greedy_text_through_the_gateway()
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        await using var gateway = await StartGatewayAsync(tiny.Directory, [server.OpenAiEndpoint]);
        using var remote = new InternVLRemoteChatClient(new InternVLRemoteOptions { Endpoints = [gateway.OpenAiEndpoint], ModelId = ModelId });
        using var local = new InternVLChatClient(tiny.Model);
        byte[] png = File.ReadAllBytes(Path.Combine(Images, "exact_448x448.png"));
        ChatMessage[] messages = [new(ChatRole.System, "Answer briefly."), new(ChatRole.User, [new DataContent(png, "image/png"), new TextContent("What shape is this?")])];
        var options = new ChatOptions { MaxOutputTokens = 16, AdditionalProperties = new() { [InternVLChatClient.MaxTilesProperty] = 1 } };
        var expected = await local.GetResponseAsync(messages, options);
        var streamed = await remote.GetStreamingResponseAsync(messages, options).ToChatResponseAsync();
        var whole = await remote.GetResponseAsync(messages, options);
        Assert.Equal(expected.Text, streamed.Text);
        Assert.Equal(expected.Text, whole.Text);
        Assert.Equal(expected.Usage!.InputTokenCount, whole.Usage!.InputTokenCount);
        Assert.Equal(expected.Usage.OutputTokenCount, streamed.Usage!.OutputTokenCount);
        Assert.Equal(expected.FinishReason, streamed.FinishReason);

        // What no engine field carries is refused, not dropped.
        var unknown = new ChatOptions { AdditionalProperties = new() { ["guided_json"] = "{}" } };
        await Assert.ThrowsAsync<NotSupportedException>(() => remote.GetResponseAsync(messages, unknown));
    }

    [Fact]
    public async Task The_gateway_reports_its_backends_and_answers_503_when_none_is_up()
    {
        int port = ServerProcess.FreePort(); // nothing listens there
        await using var gateway = await StartGatewayAsync(tiny.Directory, [new Uri($"http://127.0.0.1:{port}/v1")], o => o.BackendMaxRetries = 1);
        using var http = new HttpClient { BaseAddress = gateway.Address, Timeout = TimeSpan.FromSeconds(30) };
        // An engine counts as healthy until its first health check says otherwise (requests may go to it at once); that
        // check runs in the background as the gateway starts, so wait for it (seen in CI: /health still 200 after 126 ms).
        await WaitUntilAsync(async () =>
        {
            using var first = await http.GetAsync("health");
            return first.StatusCode != HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(10), "the gateway's first health check of the engine");
        using var health = await http.GetAsync("health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        var state = JsonNode.Parse(await health.Content.ReadAsStringAsync())!;
        Assert.Equal("unavailable", (string?)state["status"]);
        Assert.Equal(0, (int)state["backends"]!["healthy"]!);
        var models = JsonNode.Parse(await http.GetStringAsync("v1/models"))!;
        var backend = models["data"]![0]!["internvl_backends"]![0]!;
        Assert.Equal($"http://127.0.0.1:{port}/v1", (string?)backend["url"]);
        Assert.False((bool)backend["healthy"]!);

        using var response = await http.PostAsync("v1/chat/completions", Json(Request("Hello", stream: false, maxTokens: 4)));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("1", response.Headers.RetryAfter?.ToString());
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("backend_unavailable", (string?)error["code"]);
    }

    [Fact]
    public async Task A_busy_engine_is_retried_with_backoff_until_it_has_room()
    {
        // One generation slot and no queue: a second request at the same time gets 429 and must be retried, not failed.
        await using var busy = await TinyServer.StartAsync(tiny.Directory, o => (o.MaxConcurrentGenerations, o.MaxQueuedRequests) = (1, 0));
        using var remote = new InternVLRemoteChatClient(new InternVLRemoteOptions
        {
            Endpoints = [busy.OpenAiEndpoint],
            ModelId = ModelId,
            MaxRetries = 10,
            RetryDelay = TimeSpan.FromMilliseconds(50),
        });
        using var local = new InternVLChatClient(tiny.Model);
        ChatMessage[] messages = [new(ChatRole.User, "Write a short poem about rain.")];
        var options = new ChatOptions { MaxOutputTokens = 12 };
        string expected = (await local.GetResponseAsync(messages, options)).Text;
        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => remote.GetResponseAsync(messages, options))).WaitAsync(Bound);
        Assert.All(answers, a => Assert.Equal(expected, a.Text));
        Assert.Equal("closed", Assert.Single(remote.Status).Circuit); // busy is not broken
    }

    [Fact]
    public async Task An_engine_that_keeps_failing_is_cut_off_by_its_circuit_breaker()
    {
        // An engine whose health check passes but whose every answer is 503 (overloaded, or broken behind its front end).
        int failures = 0;
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var failing = builder.Build();
        Microsoft.AspNetCore.Builder.EndpointRouteBuilderExtensions.MapGet(failing, "/health", () => "ok");
        Microsoft.AspNetCore.Builder.EndpointRouteBuilderExtensions.MapPost(failing, "/v1/chat/completions", () =>
        {
            Interlocked.Increment(ref failures);
            return Microsoft.AspNetCore.Http.Results.StatusCode(503);
        });
        await failing.StartAsync();
        var failingUrl = new Uri(failing.Urls.First() + "/v1");
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        using var remote = new InternVLRemoteChatClient(new InternVLRemoteOptions
        {
            Endpoints = [failingUrl, server.OpenAiEndpoint],
            ModelId = ModelId,
            RetryDelay = TimeSpan.FromMilliseconds(20),
            BreakDuration = TimeSpan.FromMinutes(5),
        });
        using var local = new InternVLChatClient(tiny.Model);
        ChatMessage[] messages = [new(ChatRole.User, "Name three colours.")];
        var options = new ChatOptions { MaxOutputTokens = 6 };
        string expected = (await local.GetResponseAsync(messages, options)).Text;
        for (int i = 0; i < 16; i++) Assert.Equal(expected, (await remote.GetResponseAsync(messages, options)).Text);
        Assert.Equal("open", remote.Status[0].Circuit);
        Assert.True(remote.Status[0].Healthy); // its health check still passes: the breaker, not the check, cut it off
        int cutOffAt = Volatile.Read(ref failures);
        Assert.InRange(cutOffAt, 4, 15);
        for (int i = 0; i < 4; i++) Assert.Equal(expected, (await remote.GetResponseAsync(messages, options)).Text);
        Assert.Equal(cutOffAt, Volatile.Read(ref failures));
    }

    [Fact]
    public void The_lmdeploy_request_carries_the_tile_limit_in_each_image_part()
    {
        var body = JsonNode.Parse("""
            {"model": "m", "mm_processor_kwargs": {"max_dynamic_patch": 3}, "skip_special_tokens": false,
             "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:a"}}, {"type": "text", "text": "Q"},
                                                       {"type": "image_url", "image_url": {"url": "data:b"}}]}]}
            """)!.AsObject();
        Assert.True(LmdeployImagePartPolicy.Rewrite(body));
        Assert.Null(body["mm_processor_kwargs"]);
        var parts = body["messages"]![0]!["content"]!.AsArray();
        Assert.Equal(3, (int)parts[0]!["image_url"]!["max_dynamic_patch"]!);
        Assert.Equal(3, (int)parts[2]!["image_url"]!["max_dynamic_patch"]!);
        Assert.Null(parts[1]!["image_url"]);
        Assert.False((bool)body["skip_special_tokens"]!);
        Assert.False(LmdeployImagePartPolicy.Rewrite(JsonNode.Parse("""{"messages": []}""")!.AsObject()));
    }

    [Fact]
    public async Task Configuration_chooses_the_remote_backend_without_loading_a_model()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["InternVL:Backend"] = "openai",
            ["InternVL:BackendEndpoints:0"] = "http://127.0.0.1:9/v1",
            ["InternVL:BackendEndpoints:1"] = "http://127.0.0.1:10",
            ["InternVL:BackendEngine"] = "lmdeploy",
            ["InternVL:ModelId"] = "OpenGVLab/InternVL3_5-8B",
            ["InternVL:BackendApiKey"] = "backend-key",
        });
        builder.Services.AddInternVL(builder.Configuration.GetSection("InternVL"));
        using var host = builder.Build();
        await host.StartAsync();
        var client = Assert.IsType<InternVLRemoteChatClient>(host.Services.GetRequiredService<IChatClient>());
        Assert.Equal("OpenGVLab/InternVL3_5-8B", client.Metadata.DefaultModelId);
        Assert.Equal(["http://127.0.0.1:9/v1", "http://127.0.0.1:10/"], client.Status.Select(s => s.Endpoint.ToString()));
        Assert.Equal(5, host.Services.GetRequiredService<VisionTools>().AsAIFunctions().Count);
        await host.StopAsync();

        var bad = Host.CreateApplicationBuilder();
        bad.Services.AddInternVL(o => (o.Backend, o.BackendEngine, o.BackendEndpoints) = ("openai", "sglang", ["ftp://x"]));
        using var badHost = bad.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => badHost.StartAsync());
        string message = string.Join("\n", e.Failures);
        foreach (string setting in (string[])["BackendEndpoints entry 'ftp://x'", "needs ModelId", "BackendEngine 'sglang'"])
            Assert.Contains(setting, message);
    }

    [Theory]
    [InlineData(new[] { "--backend", "http://127.0.0.1:9/v1" }, "--backend needs --model-id")]
    [InlineData(new[] { "MODEL", "--backend", "http://127.0.0.1:9/v1", "--model-id", "m" }, "not both")]
    [InlineData(new[] { "--backend", "http://127.0.0.1:9/v1", "--model-id", "m", "--backend-engine", "sglang" }, "sglang")]
    public void Serve_explains_a_wrong_backend_command_line(string[] args, string message)
    {
        var (code, _, error) = CliRunner.Run(["serve", .. args.Select(a => a == "MODEL" ? tiny.Directory : a)]);
        Assert.Equal(2, code);
        Assert.Contains(message, error);
    }

    private static JsonObject Request(string question, bool stream, int maxTokens, bool image = false)
    {
        var content = new JsonArray();
        if (image)
        {
            byte[] png = File.ReadAllBytes(Path.Combine(Images, "exact_448x448.png"));
            content.Add(new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = "data:image/png;base64," + Convert.ToBase64String(png) } });
        }
        content.Add(new JsonObject { ["type"] = "text", ["text"] = question });
        return new JsonObject
        {
            ["model"] = ModelId,
            ["max_tokens"] = maxTokens,
            ["stream"] = stream,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = content }),
        };
    }

    private static StringContent Json(JsonObject body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    /// <summary>A request's outcome: its text, whether it completed (<c>[DONE]</c> or a whole answer), the error code it ended with.</summary>
    private sealed record Outcome(bool Stream, string Question, string Text, bool Completed, string? ErrorCode, HttpStatusCode Status);

    /// <summary>How far a request has come: the engine answering it (the gateway's X-InternVL-Backend header) and the text chunks received.</summary>
    private sealed class Progress
    {
        public volatile string? Backend;
        public int Chunks;
        public volatile bool Ended;
    }

    private static async Task<Outcome> SendAsync(HttpClient http, string question, bool image, bool stream, int maxTokens, Progress progress, CancellationToken cancellationToken)
    {
        try
        {
            return await SendCoreAsync(http, question, image, stream, maxTokens, progress, cancellationToken);
        }
        finally
        {
            progress.Ended = true;
        }
    }

    private static async Task<Outcome> SendCoreAsync(HttpClient http, string question, bool image, bool stream, int maxTokens, Progress progress, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Json(Request(question, stream, maxTokens, image)) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.Headers.TryGetValues("X-InternVL-Backend", out var backend)) progress.Backend = backend.Single();
        if (!stream || response.StatusCode != HttpStatusCode.OK)
        {
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!;
            return response.StatusCode == HttpStatusCode.OK
                ? new Outcome(stream, question, (string)body["choices"]![0]!["message"]!["content"]!, true, null, response.StatusCode)
                : new Outcome(stream, question, "", false, (string?)body["error"]?["code"], response.StatusCode);
        }
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        var text = new StringBuilder();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            string data = line["data: ".Length..];
            if (data == "[DONE]") return new Outcome(stream, question, text.ToString(), true, null, response.StatusCode);
            var chunk = JsonNode.Parse(data)!;
            if (chunk["error"] is { } error) return new Outcome(stream, question, text.ToString(), false, (string?)error["code"], response.StatusCode);
            if (chunk["choices"]?.AsArray() is [{ } choice, ..] && (string?)choice["delta"]?["content"] is { Length: > 0 } piece)
            {
                Interlocked.Increment(ref progress.Chunks);
                text.Append(piece);
            }
        }
        return new Outcome(stream, question, text.ToString(), false, "truncated", response.StatusCode); // a silent end: must never happen
    }

    private static async Task<JsonNode> BackendAsync(HttpClient http, Uri engine)
    {
        var models = JsonNode.Parse(await http.GetStringAsync("v1/models"))!;
        return models["data"]![0]!["internvl_backends"]!.AsArray().Single(b => (string?)b!["url"] == engine.ToString())!;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan limit, string what)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what} did not happen within {limit.TotalSeconds} s");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// The acceptance test: three engines, a gateway, 64 requests (half streamed), one engine killed while streams are
    /// open. Every request that had not streamed a token is answered elsewhere with the local greedy text; every stream
    /// that lost its engine ends with the documented error event; nothing hangs; the engine, restarted on its port, takes
    /// requests again once its health check finds it. The gateway's X-InternVL-Backend header says which engine streams,
    /// so the kill falls while one of engine 0's long answers has just started.
    /// </summary>
    [Fact]
    public async Task The_gateway_survives_a_dying_engine_and_takes_it_back()
    {
        const int Requests = 64, MaxTokens = 96;
        string[] questions = ["Name three colours.", "Count to ten.", "Write a short poem about rain.", "What is in the picture?"];
        using var local = new InternVLChatClient(tiny.Model);
        var expected = new Dictionary<string, string>();
        foreach (string question in questions)
        {
            bool image = question.Contains("picture", StringComparison.Ordinal);
            var contents = new List<AIContent>();
            if (image) contents.Add(new DataContent(File.ReadAllBytes(Path.Combine(Images, "exact_448x448.png")), "image/png"));
            contents.Add(new TextContent(question));
            var answer = await local.GetResponseAsync([new ChatMessage(ChatRole.User, contents)], new ChatOptions { MaxOutputTokens = MaxTokens });
            expected[question] = answer.Text;
            output.WriteLine($"{question}: {answer.Usage?.OutputTokenCount} tokens");
        }

        // The engines run without their image and prefix caches: with them, a repeated question's prefill is skipped and its
        // 96-token stream can end between two polls of the kill condition below (seen once in CI), so no stream is caught early.
        string[] engineArgs = [tiny.Directory, "--max-concurrent", "4", "--max-queue", "64", "--no-cache"];
        int[] ports = [ServerProcess.FreePort(), ServerProcess.FreePort(), ServerProcess.FreePort()];
        var engines = new ServerProcess?[3];
        try
        {
            for (int i = 0; i < 3; i++) engines[i] = await ServerProcess.StartAsync(engineArgs, ports[i]);
            var urls = ports.Select(p => new Uri($"http://127.0.0.1:{p}/v1")).ToArray();
            await using var gateway = await StartGatewayAsync(tiny.Directory, urls, o =>
            {
                o.MaxConcurrentGenerations = Requests;
                o.MaxQueuedRequests = Requests;
                o.BackendMaxRetries = 4;
            });
            using var http = new HttpClient { BaseAddress = gateway.Address, Timeout = Bound };
            using var bound = new CancellationTokenSource(Bound);
            // The streams go first, so that they take the engines' generation slots; the whole requests queue behind them.
            var progress = Enumerable.Range(0, Requests).Select(_ => new Progress()).ToArray();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var streams = Enumerable.Range(0, Requests / 2).Select(i => SendOneAsync(i, stream: true)).ToArray();
            await Task.Delay(100);
            var wholes = Enumerable.Range(Requests / 2, Requests / 2).Select(i => SendOneAsync(i, stream: false)).ToArray();
            var run = streams.Concat(wholes).ToArray();

            Task<Outcome> SendOneAsync(int i, bool stream)
            {
                string question = questions[i % questions.Length];
                return SendAsync(http, question, question.Contains("picture", StringComparison.Ordinal), stream, MaxTokens, progress[i], bound.Token);
            }

            // Kill engine 0 while one of its streams of a long (96-token) answer has just started, and requests wait on it.
            bool IsEarlyLongStreamOnEngine0(int i) => questions[i % questions.Length].Contains("picture", StringComparison.Ordinal)
                && progress[i].Backend == urls[0].ToString() && !progress[i].Ended && Volatile.Read(ref progress[i].Chunks) is >= 1 and <= 24;
            await WaitUntilAsync(async () => Enumerable.Range(0, Requests / 2).Any(IsEarlyLongStreamOnEngine0) && (int)(await BackendAsync(http, urls[0]))["in_flight"]! >= 3,
                TimeSpan.FromSeconds(90), "a long stream starting on engine 0");
            int open = progress.Take(Requests / 2).Count(p => p.Chunks > 0 && !p.Ended);
            output.WriteLine($"killing engine 0 after {clock.ElapsedMilliseconds} ms, {open} streams open");
            await engines[0]!.KillAsync();
            var outcomes = await Task.WhenAll(run).WaitAsync(Bound);
            output.WriteLine($"all {Requests} requests ended after {clock.ElapsedMilliseconds} ms");

            for (int i = 0; i < Requests; i++)
            {
                var outcome = outcomes[i];
                string reference = expected[outcome.Question];
                if (outcome.Completed)
                {
                    Assert.Equal(reference, outcome.Text);
                    continue;
                }
                // Only a stream that had started may fail, with the documented error, holding a true start of the answer.
                Assert.True(outcome.Stream, $"a whole request failed: {outcome.Status} {outcome.ErrorCode}");
                Assert.Equal("backend_stream_broken", outcome.ErrorCode);
                Assert.Equal(urls[0].ToString(), progress[i].Backend); // only the killed engine's streams broke
                Assert.StartsWith(outcome.Text, reference, StringComparison.Ordinal);
            }
            int broken = outcomes.Count(o => !o.Completed);
            output.WriteLine($"{outcomes.Count(o => o.Completed)} answered whole, {broken} streams broken with backend_stream_broken");
            Assert.InRange(broken, 1, Requests / 2 - 1);
            Assert.False((bool)(await BackendAsync(http, urls[0]))["healthy"]!);

            // Restarted on the same port, engine 0 is found by its health check and takes requests again.
            await engines[0]!.DisposeAsync();
            engines[0] = await ServerProcess.StartAsync(engineArgs, ports[0]);
            await WaitUntilAsync(async () => (bool)(await BackendAsync(http, urls[0]))["healthy"]!, TimeSpan.FromSeconds(30), "engine 0's health check");
            var againProgress = Enumerable.Range(0, 12).Select(_ => new Progress()).ToArray();
            var again = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
                SendAsync(http, questions[i % 3], image: false, stream: i % 2 == 0, MaxTokens, againProgress[i], bound.Token)));
            Assert.All(again, o => Assert.True(o.Completed && o.Text == expected[o.Question], $"{o.Question}: {o.ErrorCode}"));
            Assert.Contains(againProgress, p => p.Backend == urls[0].ToString());
            await WaitUntilAsync(() => Task.FromResult(engines[0]!.Output.Contains("chat completion (", StringComparison.Ordinal)), TimeSpan.FromSeconds(10),
                "engine 0's log of an answer");
        }
        finally
        {
            foreach (var engine in engines)
                if (engine is not null) await engine.DisposeAsync();
        }
    }
}
