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
        long warm = await server.ResidentBytesAsync(TimeSpan.FromSeconds(3));
        good = dropped = bad = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Mix(Requests);
        Assert.Equal(Requests, good + dropped + bad);

        // Dropped streams are cancelled on the server; once they have wound down, a request is answered as alone.
        Assert.Equal(textAnswer, await Whole(http, image: false, limit.Token));
        long after = await server.ResidentBytesAsync(TimeSpan.FromSeconds(3));
        output.WriteLine($"{Requests} requests ({good} answered, {dropped} dropped mid-stream, {bad} refused) in {clock.Elapsed.TotalSeconds:F1} s; " +
                         $"RSS after warm-up {warm >> 20} MiB, after the soak {after >> 20} MiB");
        Assert.True(after <= warm * 1.25, $"idle RSS {after >> 20} MiB after the soak, {warm >> 20} MiB after the warm-up");
    }
}
