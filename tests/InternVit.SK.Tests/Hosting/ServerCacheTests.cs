using System.Net.Http.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Tests.Export;

namespace InternVit.SK.Tests.Hosting;

/// <summary>The server reports prompt caching as OpenAI does (<c>usage.prompt_tokens_details.cached_tokens</c>), and the options turn it off.</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ServerCacheTests(ConvertedTinyModel tiny)
{
    private static JsonObject Request() => new()
    {
        ["model"] = "model",
        ["max_tokens"] = 8,
        ["messages"] = new JsonArray(new JsonObject
        {
            ["role"] = "user",
            ["content"] = new JsonArray(
                new JsonObject { ["type"] = "text", ["text"] = "<image>\nDescribe the image." },
                new JsonObject
                {
                    ["type"] = "image_url",
                    ["image_url"] = new JsonObject
                    {
                        ["url"] = "data:image/png;base64," + Convert.ToBase64String(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "images", "exact_448x448.png"))),
                    },
                }),
        }),
    };

    private static async Task<(JsonNode Usage, string Text)> AskAsync(HttpClient http)
    {
        using var response = await http.PostAsync("v1/chat/completions", JsonContent.Create(Request()));
        response.EnsureSuccessStatusCode();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return (body["usage"]!, (string)body["choices"]![0]!["message"]!["content"]!);
    }

    [Fact]
    public async Task A_repeated_request_reports_its_cached_prompt_tokens_and_the_same_answer()
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        using var http = new HttpClient { BaseAddress = server.Address };
        var (first, firstText) = await AskAsync(http);
        var (second, secondText) = await AskAsync(http);

        Assert.Equal(0, (int)first["prompt_tokens_details"]!["cached_tokens"]!);
        Assert.Equal((int)second["prompt_tokens"]! - 1, (int)second["prompt_tokens_details"]!["cached_tokens"]!);
        Assert.Equal(firstText, secondText);
    }

    [Fact]
    public async Task With_the_caches_off_nothing_comes_from_a_cache()
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory, o =>
        {
            o.ImageCacheMiB = 0;
            o.PromptCacheEntries = 0;
            o.PromptCacheMiB = 0;
        });
        using var http = new HttpClient { BaseAddress = server.Address };
        var (first, firstText) = await AskAsync(http);
        var (second, secondText) = await AskAsync(http);

        Assert.Equal(0, (int)second["prompt_tokens_details"]!["cached_tokens"]!);
        Assert.Equal((int)first["prompt_tokens"]!, (int)second["prompt_tokens"]!);
        Assert.Equal(firstText, secondText);
    }
}
