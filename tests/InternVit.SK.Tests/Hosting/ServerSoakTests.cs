using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using InternVit.SK.Export;
using InternVit.SK.Tests.Onnx;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Hosting;

/// <summary>
/// Issue 22's soak: 500 mixed requests from 8 clients against the real server — text and image questions, whole and
/// streamed, streams dropped after their first chunk, malformed and refused requests. Every good answer must equal the
/// answer the same request gets alone, every bad one its 400, and the idle server's memory (an <c>internvl serve</c>
/// process) must come back within the README's bound: 25 % over its level after a warm-up of the same mix. Bounded: fixed request count, an overall time limit.
/// </summary>
[Collection(OrtGlobalCollection.Name)]
public sealed class ServerSoakTests(ITestOutputHelper output)
{
    private const int Clients = 8, Requests = 500;

    private static JsonObject Request(bool image, bool stream)
    {
        var content = new JsonArray();
        if (image)
        {
            byte[] png = File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "images", "exact_448x448.png"));
            content.Add(new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = "data:image/png;base64," + Convert.ToBase64String(png) } });
        }
        content.Add(new JsonObject { ["type"] = "text", ["text"] = image ? "What is in the picture?" : "Name three colours." });
        return new JsonObject
        {
            ["model"] = "model",
            ["max_tokens"] = 8,
            ["stream"] = stream,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = content }),
        };
    }

    private static StringContent Json(JsonObject body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static async Task<string> Whole(HttpClient http, bool image, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync("v1/chat/completions", Json(Request(image, stream: false)), cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!;
        return (string)answer["choices"]![0]!["message"]!["content"]!;
    }

    private static async Task<string> Streamed(HttpClient http, bool image, bool dropAfterFirstChunk, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Json(Request(image, stream: true)) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        var text = new StringBuilder();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            if (dropAfterFirstChunk) return ""; // the client goes away mid-stream; disposing the response cancels the generation
            string data = line["data: ".Length..];
            if (data == "[DONE]") break;
            text.Append((string?)JsonNode.Parse(data)!["choices"]![0]!["delta"]!["content"]);
        }
        return text.ToString();
    }

    [Fact]
    public async Task Five_hundred_mixed_requests_from_eight_clients_answer_correctly_and_memory_comes_back()
    {
        using var dir = new TempDir();
        await ModelConverter.ConvertAsync(TestPaths.TinyCheckpoint, dir.File("model"));
        await using var server = await ServerProcess.StartAsync(dir.File("model"));
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(2) };
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(8));

        // The answers each request gets alone (greedy, so every later one must equal them).
        string textAnswer = await Whole(http, image: false, limit.Token), imageAnswer = await Whole(http, image: true, limit.Token);
        Assert.NotEmpty(textAnswer);
        Assert.NotEmpty(imageAnswer);
        Assert.Equal(textAnswer, await Streamed(http, image: false, dropAfterFirstChunk: false, limit.Token));

        int good = 0, dropped = 0, bad = 0;
        async Task Client(int client, int requests)
        {
            for (int i = client; i < requests; i += Clients)
            {
                switch (i % 7)
                {
                    case 0: Assert.Equal(textAnswer, await Whole(http, image: false, limit.Token)); Interlocked.Increment(ref good); break;
                    case 1: Assert.Equal(imageAnswer, await Whole(http, image: true, limit.Token)); Interlocked.Increment(ref good); break;
                    case 2: Assert.Equal(textAnswer, await Streamed(http, image: false, dropAfterFirstChunk: false, limit.Token)); Interlocked.Increment(ref good); break;
                    case 3: Assert.Equal(imageAnswer, await Streamed(http, image: true, dropAfterFirstChunk: false, limit.Token)); Interlocked.Increment(ref good); break;
                    case 4: await Streamed(http, image: i % 2 == 0, dropAfterFirstChunk: true, limit.Token); Interlocked.Increment(ref dropped); break;
                    case 5:
                        using (var response = await http.PostAsync("v1/chat/completions", new StringContent("{\"model\": \"model\", \"messages\": [", Encoding.UTF8, "application/json"), limit.Token))
                            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                        Interlocked.Increment(ref bad);
                        break;
                    default:
                        var refused = Request(image: false, stream: false);
                        refused["logprobs"] = true;
                        using (var response = await http.PostAsync("v1/chat/completions", Json(refused), limit.Token))
                        {
                            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                            Assert.Contains("logprobs", await response.Content.ReadAsStringAsync(limit.Token));
                        }
                        Interlocked.Increment(ref bad);
                        break;
                }
            }
        }

        async Task Mix(int requests)
        {
            var clients = new Task[Clients];
            for (int c = 0; c < Clients; c++)
            {
                int client = c;
                clients[c] = Task.Run(() => Client(client, requests));
            }
            await Task.WhenAll(clients);
        }

        // The warm-up is the same mix, short: the server's steady state (thread pool, buffers, caches) is the baseline.
        await Mix(7 * Clients);
        long warm = await server.ResidentBytesAsync(3 * InternVit.SK.Hosting.IdleMemoryTrim.Interval);
        good = dropped = bad = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Mix(Requests);
        Assert.Equal(Requests, good + dropped + bad);

        // Dropped streams are cancelled on the server; once they have wound down, a request is answered as alone.
        Assert.Equal(textAnswer, await Whole(http, image: false, limit.Token));
        long after = await server.ResidentBytesAsync(3 * InternVit.SK.Hosting.IdleMemoryTrim.Interval);
        output.WriteLine($"{Requests} requests ({good} answered, {dropped} dropped mid-stream, {bad} refused) in {clock.Elapsed.TotalSeconds:F1} s; " +
                         $"RSS after warm-up {warm >> 20} MiB, after the soak {after >> 20} MiB");
        Assert.True(after <= warm * 1.25, $"idle RSS {after >> 20} MiB after the soak, {warm >> 20} MiB after the warm-up");
    }

    /// <summary>
    /// Issue 23's soak: the same kind of load with both caches bounded small — five images of 1 to 13 tiles, single
    /// questions and follow-ups that resend the history, whole and streamed, from 8 clients — so that features and KV
    /// caches are evicted all the time. Every answer must equal the one a server without caches gives, what the caches
    /// hold (sampled from <c>/health</c> throughout) must stay within the bounds, and the idle memory must come back
    /// within 25 % of its level after a warm-up.
    /// </summary>
    [Fact]
    public async Task With_small_caches_under_load_answers_stay_exact_and_the_caches_stay_within_their_bounds()
    {
        using var dir = new TempDir();
        await ModelConverter.ConvertAsync(TestPaths.TinyCheckpoint, dir.File("model"));
        string[] files = ["exact_448x448.png", "photo_jpeg_1024x768.jpg", "receipt_576x1400.png", "small_50x30.png", "table_1600x900.png"];
        var images = files.Select(f => "data:" + (f.EndsWith(".jpg", StringComparison.Ordinal) ? "image/jpeg" : "image/png") + ";base64," +
                                       Convert.ToBase64String(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "images", f)))).ToArray();
        const long imageBound = 1 << 20, promptBound = 8 << 20;
        const int promptEntries = 2;

        JsonObject Body(int image, string? firstAnswer, bool stream)
        {
            var messages = new JsonArray(new JsonObject
            {
                ["role"] = "user",
                ["content"] = new JsonArray(
                    new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = images[image] } },
                    new JsonObject { ["type"] = "text", ["text"] = "What is in the picture?" }),
            });
            if (firstAnswer is not null)
            {
                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = firstAnswer });
                messages.Add(new JsonObject { ["role"] = "user", ["content"] = "And what else?" });
            }
            return new JsonObject { ["model"] = "model", ["max_tokens"] = 8, ["stream"] = stream, ["messages"] = messages };
        }

        static async Task<(string Text, int Cached)> Ask(HttpClient http, JsonObject body, CancellationToken cancellationToken)
        {
            bool stream = (bool)body["stream"]!;
            if (stream) body["stream_options"] = new JsonObject { ["include_usage"] = true };
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Json(body) };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            if (!stream)
            {
                var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!;
                return ((string)answer["choices"]![0]!["message"]!["content"]!, (int?)answer["usage"]!["prompt_tokens_details"]?["cached_tokens"] ?? 0);
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
            var text = new StringBuilder();
            int cached = 0;
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]") continue;
                var chunk = JsonNode.Parse(line["data: ".Length..])!;
                if (chunk["usage"] is JsonObject usage) cached = (int?)usage["prompt_tokens_details"]?["cached_tokens"] ?? 0;
                if (chunk["choices"] is JsonArray { Count: > 0 } choices) text.Append((string?)choices[0]!["delta"]!["content"]);
            }
            return (text.ToString(), cached);
        }

        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        // The reference: every request alone, on a server without caches.
        var first = new string[images.Length];
        var followUp = new string[images.Length];
        await using (var plain = await ServerProcess.StartAsync([dir.File("model"), "--no-cache"], ServerProcess.FreePort()))
        {
            using var http = new HttpClient { BaseAddress = plain.Address, Timeout = TimeSpan.FromMinutes(2) };
            for (int i = 0; i < images.Length; i++)
            {
                first[i] = (await Ask(http, Body(i, null, stream: false), limit.Token)).Text;
                followUp[i] = (await Ask(http, Body(i, first[i], stream: false), limit.Token)).Text;
            }
        }

        await using var server = await ServerProcess.StartAsync([dir.File("model"), "--image-cache-mb", "1", "--prompt-cache-mb", "8", "--prompt-cache-entries", $"{promptEntries}"],
            ServerProcess.FreePort());
        using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(2) };
        int cachedRequests = 0;
        async Task Mix(int requests)
        {
            var clients = new Task[Clients];
            for (int c = 0; c < Clients; c++)
            {
                int start = c;
                clients[c] = Task.Run(async () =>
                {
                    for (int i = start; i < requests; i += Clients)
                    {
                        int image = i % images.Length;
                        bool follow = i / images.Length % 2 == 1, stream = i % 3 == 0;
                        var (text, cached) = await Ask(client, Body(image, follow ? first[image] : null, stream), limit.Token);
                        Assert.Equal(follow ? followUp[image] : first[image], text);
                        if (cached > 0) Interlocked.Increment(ref cachedRequests);
                    }
                });
            }
            await Task.WhenAll(clients);
        }

        // Idle memory is read three of the idle trim's intervals after the load, so that the trim has had its turn.
        var settle = 3 * InternVit.SK.Hosting.IdleMemoryTrim.Interval;
        await Mix(4 * Clients);
        long warm = await server.ResidentBytesAsync(settle);
        long maxImageBytes = 0, maxPromptBytes = 0;
        int maxPromptEntries = 0, samples = 0;
        using var stop = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var health = JsonNode.Parse(await client.GetStringAsync("health", limit.Token))!["caches"]!;
                Assert.Equal(imageBound, (long)health["image"]!["max_bytes"]!);
                Assert.Equal(promptBound, (long)health["prompt"]!["max_bytes"]!);
                Assert.Equal(promptEntries, (int)health["prompt"]!["max_entries"]!);
                maxImageBytes = Math.Max(maxImageBytes, (long)health["image"]!["bytes"]!);
                maxPromptBytes = Math.Max(maxPromptBytes, (long)health["prompt"]!["bytes"]!);
                maxPromptEntries = Math.Max(maxPromptEntries, (int)health["prompt"]!["entries"]!);
                samples++;
                await Task.Delay(20);
            }
        });

        await Mix(160);
        stop.Cancel();
        await watcher;
        long after = await server.ResidentBytesAsync(settle);

        output.WriteLine($"{samples} samples of /health: image cache peak {maxImageBytes} of {imageBound} bytes; prompt cache peak {maxPromptBytes} of " +
                         $"{promptBound} bytes, {maxPromptEntries} of {promptEntries} entries; {cachedRequests} requests with cached prompt tokens; " +
                         $"RSS after warm-up {warm >> 20} MiB, after the soak {after >> 20} MiB");
        Assert.InRange(maxImageBytes, 1, imageBound);
        Assert.InRange(maxPromptBytes, 1, promptBound);
        Assert.InRange(maxPromptEntries, 1, promptEntries);
        Assert.True(cachedRequests > 0, "some requests reused a kept prefix");
        Assert.True(after <= warm * 1.25, $"idle RSS {after >> 20} MiB after the soak, {warm >> 20} MiB after the warm-up");
    }
}
