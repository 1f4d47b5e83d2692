using System.Net.Http.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Export;
using InternVit.SK.Tests.Imaging;
using InternVit.SK.Tests.Onnx;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Hosting;

/// <summary>
/// Issue 22.8: after a burst of twelve requests with a 9999×9999 PNG, the idle server's resident memory is within 20 %
/// of its level after the first (it grew by ~320 MB per request when decoded pixels and tile buffers stayed in
/// per-thread pools). Runs alone, as it measures the process.
/// </summary>
[Collection(OrtGlobalCollection.Name)]
public sealed class ServerMemoryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_burst_of_100_megapixel_images_leaves_idle_memory_within_20_percent_of_the_first_request()
    {
        using var dir = new TempDir();
        await ModelConverter.ConvertAsync(TestPaths.TinyCheckpoint, dir.File("model"));
        await using var server = await TinyServer.StartAsync(dir.File("model"));
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(2) };
        const int side = 9999;
        string image = "data:image/png;base64," + Convert.ToBase64String(RawPng.Write(side, side, 8, 0, new byte[(1 + side) * side]));
        var body = new JsonObject
        {
            ["model"] = "model",
            ["max_tokens"] = 2,
            ["messages"] = new JsonArray(new JsonObject
            {
                ["role"] = "user",
                ["content"] = new JsonArray(
                    new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = image } },
                    new JsonObject { ["type"] = "text", ["text"] = "Describe." }),
            }),
        };

        async Task Ask()
        {
            using var response = await http.PostAsJsonAsync("v1/chat/completions", body);
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        }

        await Ask();
        long afterFirst = TestPaths.ResidentBytes();
        for (int i = 0; i < 11; i++) await Ask();
        long afterBurst = TestPaths.ResidentBytes();
        output.WriteLine($"RSS after the first request {afterFirst >> 20} MiB, after twelve {afterBurst >> 20} MiB");
        Assert.True(afterBurst <= afterFirst * 1.2, $"idle RSS {afterBurst >> 20} MiB after twelve requests, {afterFirst >> 20} MiB after the first");
    }
}
