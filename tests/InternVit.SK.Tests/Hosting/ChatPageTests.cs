using System.Text.Json.Nodes;
using InternVit.SK.Tests.Export;
using Microsoft.Playwright;

namespace InternVit.SK.Tests.Hosting;

/// <summary>The chat page at <c>/</c> in headless Chromium (Debian's chromium, installed by scripts/setup.sh).</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ChatPageTests(ConvertedTinyModel tiny)
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string Table = Path.Combine(TestPaths.Fixtures, "images", "table_1600x900.png");

    /// <summary>Headless Chromium on a page of <paramref name="server"/>; disposing closes both.</summary>
    private sealed class Browser : IAsyncDisposable
    {
        private IPlaywright _playwright = null!;
        private IBrowser _browser = null!;
        public IPage Page { get; private set; } = null!;

        public static async Task<Browser> OpenAsync(TinyServer server)
        {
            Assert.True(File.Exists(Chromium), $"{Chromium} is missing: run scripts/setup.sh (it installs Debian's chromium)");
            var b = new Browser { _playwright = await Playwright.CreateAsync() };
            b._browser = await b._playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
            b.Page = await b._browser.NewPageAsync();
            await b.Page.GotoAsync(server.Address.ToString());
            return b;
        }

        public async ValueTask DisposeAsync()
        {
            await _browser.DisposeAsync();
            _playwright.Dispose();
        }
    }

    private static Task WaitForModel(IPage page, string text) =>
        page.WaitForFunctionAsync($"() => document.getElementById('model').textContent === '{text}'");

    [Fact]
    public async Task Upload_an_image_ask_and_see_the_answer_stream_in_with_its_timings()
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        await using var browser = await Browser.OpenAsync(server);
        var page = browser.Page;
        await WaitForModel(page, "model");

        await page.SetInputFilesAsync("#file", Table);
        await page.WaitForSelectorAsync("#thumbs img");
        await page.FillAsync("#question", "Describe the image.");

        // Record how the answer grows, to see it arrive in pieces rather than at once.
        await page.EvaluateAsync(@"() => {
            window.lengths = [];
            new MutationObserver(() => { const a = document.querySelector('.assistant span'); if (a) window.lengths.push(a.textContent.length); })
                .observe(document.getElementById('log'), { subtree: true, childList: true, characterData: true });
        }");
        await page.ClickAsync("#send");
        var answer = await page.WaitForSelectorAsync(".assistant[data-done='true']", new() { Timeout = 120_000 });
        string text = await page.InnerTextAsync(".assistant > span:first-of-type");

        // The one_image golden's greedy answer repeats ".getSelectionModel"; the page's request has no token limit, so it runs on.
        Assert.StartsWith(".getSelectionModel.getSelectionModel.getSelectionModel", text);
        var lengths = await page.EvaluateAsync<int[]>("() => window.lengths");
        Assert.True(lengths.Distinct().Count() > 5, $"the answer arrived in {lengths.Distinct().Count()} step(s), not streamed");
        Assert.Equal(1, await page.Locator(".user img").CountAsync());
        Assert.Equal(0, await page.Locator(".error").CountAsync());

        // The server's timings under the answer: the golden's tiling of the 1600x900 table (num_patches_list) and real rates.
        var timings = page.Locator(".assistant .timings");
        int expectedTiles = (int)Generation.GenerationGoldenTests.Case("one_image").Golden["num_patches_list"]![0]!;
        Assert.Equal(expectedTiles.ToString(), await timings.GetAttributeAsync("data-tiles"));
        double ttft = double.Parse((await timings.GetAttributeAsync("data-ttft"))!, System.Globalization.CultureInfo.InvariantCulture);
        double tps = double.Parse((await timings.GetAttributeAsync("data-tps"))!, System.Globalization.CultureInfo.InvariantCulture);
        int tokens = int.Parse((await timings.GetAttributeAsync("data-tokens"))!);
        Assert.InRange(ttft, 0.1, 120_000);
        Assert.True(tps > 0, $"tokens/s {tps}");
        Assert.True(tokens > 5, $"{tokens} completion tokens");
        string shown = await timings.InnerTextAsync();
        Assert.Contains($"{expectedTiles} image tiles", shown);
        Assert.Contains("tokens/s", shown);
        Assert.Contains("first token", shown);
    }

    [Fact]
    public async Task Think_asks_for_thinking_mode_and_the_reasoning_is_shown_folded_and_sent_back()
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        await using var browser = await Browser.OpenAsync(server);
        var page = browser.Page;
        await WaitForModel(page, "model");

        // A real answer with the box ticked: the request carries vLLM's switch, and the server answers it.
        await page.CheckAsync("#think");
        await page.FillAsync("#question", "Hello, who are you?");
        var request = await page.RunAndWaitForRequestAsync(() => page.ClickAsync("#send"), r => r.Url.EndsWith("/v1/chat/completions", StringComparison.Ordinal));
        var sent = JsonNode.Parse(request.PostData!)!;
        Assert.Equal(true, (bool?)sent["chat_template_kwargs"]!["enable_thinking"]);
        await page.WaitForSelectorAsync(".assistant[data-done='true']", new() { Timeout = 120_000 });
        Assert.Equal(0, await page.Locator(".thinking").CountAsync()); // the tiny model's random answer has no think block
        Assert.Equal(0, await page.Locator(".error").CountAsync());

        // A thinking answer as the server streams one (reasoning_content deltas, then content), to see how the page shows it.
        var bodies = new List<string>();
        await page.RouteAsync("**/v1/chat/completions", route =>
        {
            bodies.Add(route.Request.PostData!);
            string Chunk(string delta) => "data: {\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"finish_reason\":null}]}\n\n";
            string stream = Chunk("{\"role\":\"assistant\",\"reasoning_content\":\"\\nThe user\"}") + Chunk("{\"reasoning_content\":\" asks again.\\n\"}")
                + Chunk("{\"content\":\"I am \"}") + Chunk("{\"content\":\"InternVL.\"}") + "data: [DONE]\n\n";
            return route.FulfillAsync(new() { Status = 200, ContentType = "text/event-stream", Body = stream });
        });
        await page.FillAsync("#question", "Who are you?");
        await page.ClickAsync("#send");
        await page.WaitForSelectorAsync(".assistant[data-done='true'] >> nth=1");
        var second = page.Locator(".assistant").Nth(1);
        Assert.Equal("I am InternVL.", await second.Locator("> span").First.InnerTextAsync());
        var details = second.Locator("details.thinking");
        Assert.Equal("Thinking", await details.Locator("summary").InnerTextAsync());
        Assert.False(await details.EvaluateAsync<bool>("d => d.open")); // folded
        Assert.Equal("The user asks again.", await details.Locator("div").TextContentAsync());

        // The next request sends the answer back with its reasoning, as the server takes it.
        await page.FillAsync("#question", "And then?");
        await page.ClickAsync("#send");
        await page.WaitForSelectorAsync(".assistant[data-done='true'] >> nth=2");
        var history = JsonNode.Parse(bodies[1])!["messages"]!.AsArray();
        var answer = history[3]!;
        Assert.Equal("assistant", (string?)answer["role"]);
        Assert.Equal("I am InternVL.", (string?)answer["content"]);
        Assert.Equal("\nThe user asks again.\n", (string?)answer["reasoning_content"]);
    }

    [Fact]
    public async Task With_an_API_key_the_model_loads_once_the_key_is_entered_and_a_send_works_without_reload()
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory, o => o.ApiKey = "s3cret");
        await using var browser = await Browser.OpenAsync(server);
        var page = browser.Page;
        await WaitForModel(page, "API key required");

        await page.FillAsync("#key", "wrong");
        await WaitForModel(page, "wrong API key");
        await page.FillAsync("#key", "s3cret");
        await WaitForModel(page, "model");

        await page.FillAsync("#question", "Hello, who are you?");
        await page.ClickAsync("#send");
        await page.WaitForSelectorAsync(".assistant[data-done='true']", new() { Timeout = 120_000 });
        string text = await page.InnerTextAsync(".assistant > span:first-of-type");
        string golden = (string)Generation.GenerationGoldenTests.Case("text_only").Golden["generated_text_skip_special"]!;
        Assert.StartsWith(golden, text);
        Assert.Equal(0, await page.Locator(".error").CountAsync());

        // The key is in this tab's sessionStorage, never in localStorage, and the page says so.
        Assert.Equal(0, await page.EvaluateAsync<int>("() => localStorage.length"));
        Assert.Equal("s3cret", await page.EvaluateAsync<string>("() => sessionStorage.getItem('internvl-key')"));
        Assert.Contains("sessionStorage", await page.InnerTextAsync("#key-note"));
        // A reload in the same tab keeps it and loads the model with it.
        await page.ReloadAsync();
        await WaitForModel(page, "model");
        Assert.Equal("s3cret", await page.InputValueAsync("#key"));
    }

    [Fact]
    public async Task Stop_ends_the_answer_and_the_chat_goes_on_and_New_chat_starts_afresh()
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        await using var browser = await Browser.OpenAsync(server);
        var page = browser.Page;
        await WaitForModel(page, "model");

        await page.SetInputFilesAsync("#file", Table);
        await page.WaitForSelectorAsync("#thumbs img");
        await page.FillAsync("#question", "Describe the image.");
        await page.ClickAsync("#send");
        Assert.True(await page.IsVisibleAsync("#stop"));
        Assert.False(await page.IsVisibleAsync("#send"));
        await page.WaitForFunctionAsync("() => document.querySelector('.assistant span').textContent.length > 0", null, new() { Timeout = 120_000 });
        await page.ClickAsync("#stop");
        await page.WaitForSelectorAsync(".assistant[data-stopped='true']");
        Assert.Equal("(stopped)", (await page.InnerTextAsync(".assistant .stopped-note")).Trim());
        Assert.StartsWith(".getSelectionModel", await page.InnerTextAsync(".assistant > span:first-of-type"));
        Assert.True(await page.IsVisibleAsync("#send"));
        Assert.False(await page.IsVisibleAsync("#stop"));

        // The next question goes out with the first question and the stopped answer before it, and is answered.
        await page.FillAsync("#question", "Hello, who are you?");
        var request = page.WaitForRequestAsync(r => r.Url.EndsWith("/v1/chat/completions"));
        await page.ClickAsync("#send");
        var sent = JsonNode.Parse((await request).PostData!)!;
        var messages = sent["messages"]!.AsArray();
        Assert.Equal(["user", "assistant", "user"], messages.Select(m => (string)m!["role"]!));
        Assert.StartsWith(".getSelectionModel", (string)messages[1]!["content"]!);
        await page.WaitForSelectorAsync(".assistant[data-done='true']", new() { Timeout = 120_000 });
        Assert.Equal(0, await page.Locator(".error").CountAsync());

        // New chat empties the page and the history: the next request holds only its own question.
        await page.ClickAsync("#new");
        Assert.Equal(0, await page.Locator("#log > *").CountAsync());
        await page.FillAsync("#question", "Hello again");
        request = page.WaitForRequestAsync(r => r.Url.EndsWith("/v1/chat/completions"));
        await page.ClickAsync("#send");
        messages = JsonNode.Parse((await request).PostData!)!["messages"]!.AsArray();
        Assert.Single(messages);
        Assert.Equal("Hello again", (string)messages[0]!["content"]!.AsArray().Last()!["text"]!);
        await page.WaitForSelectorAsync(".assistant[data-done='true']", new() { Timeout = 120_000 });
        Assert.Equal(2, await page.Locator("#log > .msg").CountAsync());
        Assert.Equal(0, await page.Locator(".error").CountAsync());
    }

    [Fact]
    public async Task Long_unbroken_text_wraps_inside_its_bubble_and_the_attach_icon_is_an_inline_svg()
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        await using var browser = await Browser.OpenAsync(server);
        var page = browser.Page;
        await page.SetViewportSizeAsync(800, 600);
        await WaitForModel(page, "model");

        await page.FillAsync("#question", new string('x', 2000));
        await page.ClickAsync("#send");
        await page.WaitForSelectorAsync(".user");
        int[] sizes = await page.EvaluateAsync<int[]>(@"() => { const b = document.querySelector('.user'), log = document.getElementById('log');
            return [b.scrollWidth, b.clientWidth, log.scrollWidth, log.clientWidth]; }");
        Assert.True(sizes[1] > 100 && sizes[0] <= sizes[1], $"bubble scrollWidth {sizes[0]} > clientWidth {sizes[1]}");
        Assert.True(sizes[2] <= sizes[3], $"the log scrolls sideways: {sizes[2]} > {sizes[3]}");
        await page.ClickAsync("#stop");

        // The attach button draws its paperclip itself (no emoji font needed).
        Assert.Equal(1, await page.Locator("#drop svg path").CountAsync());
        string label = await page.InnerTextAsync("#drop");
        Assert.Equal("Image", label.Trim());
        Assert.DoesNotContain(label, c => char.IsSurrogate(c) || c > '\u2000');
    }

    [Fact]
    public async Task A_grounding_answer_gets_its_boxes_drawn_over_the_image()
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        await using var browser = await Browser.OpenAsync(server);
        var page = browser.Page;
        await WaitForModel(page, "model");
        // The tiny model cannot ground, so this answer is scripted: a stream as the server sends it, with special tokens kept.
        const string answer = "<ref>the table</ref><box>[[100, 200, 500, 600]]</box> and <ref>a cell</ref><box>[[900, 950, 700, 800]]</box>";
        string Event(JsonObject o) => "data: " + o.ToJsonString() + "\n\n";
        string body = Event(new JsonObject { ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = new JsonObject { ["content"] = answer[..30] } }) })
            + Event(new JsonObject { ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = new JsonObject { ["content"] = answer[30..] } }) })
            + Event(new JsonObject { ["choices"] = new JsonArray(), ["usage"] = new JsonObject { ["prompt_tokens"] = 10, ["completion_tokens"] = 20, ["total_tokens"] = 30 } })
            + "data: [DONE]\n\n";
        await page.RouteAsync("**/v1/chat/completions", route => route.FulfillAsync(new() { Status = 200, ContentType = "text/event-stream", Body = body }));

        await page.SetInputFilesAsync("#file", Table);
        await page.WaitForSelectorAsync("#thumbs img");
        await page.FillAsync("#question", "Locate the table.");
        await page.ClickAsync("#send");
        await page.WaitForSelectorAsync(".assistant[data-done='true']");
        var image = (await page.Locator(".assistant .grounding img").BoundingBoxAsync())!;
        Assert.True(image.Width > 100, $"image width {image.Width}");
        Assert.Equal(16.0 / 9, image.Width / image.Height, 2);
        var boxes = page.Locator(".assistant .grounding .box");
        Assert.Equal(2, await boxes.CountAsync());
        (double X1, double Y1, double X2, double Y2)[] expected = [(100, 200, 500, 600), (700, 800, 900, 950)];
        string[] labels = ["the table", "a cell"];
        for (int i = 0; i < 2; i++)
        {
            var box = (await boxes.Nth(i).BoundingBoxAsync())!;
            Assert.Equal(image.X + expected[i].X1 / 1000 * image.Width, box.X, 0);
            Assert.Equal(image.Y + expected[i].Y1 / 1000 * image.Height, box.Y, 0);
            Assert.Equal((expected[i].X2 - expected[i].X1) / 1000 * image.Width, box.Width, 0);
            Assert.Equal((expected[i].Y2 - expected[i].Y1) / 1000 * image.Height, box.Height, 0);
            Assert.Equal(labels[i], await boxes.Nth(i).InnerTextAsync());
        }
        // No internvl_timings in this usage: the line shows just the token count.
        Assert.Equal("20 tokens", (await page.InnerTextAsync(".assistant .timings")).Trim());

        // Four numbers in brackets without <box> or [[ are not a grounding answer: no boxes.
        Assert.Equal(2, await page.EvaluateAsync<int>("() => parseBoxes('x [[1, 2, 3, 4]]').length + parseBoxes('<box>[5, 6, 7, 8]</box>').length"));
        Assert.Equal(0, await page.EvaluateAsync<int>("() => parseBoxes('the list [1, 2, 3, 4] has four numbers').length"));
    }
}
