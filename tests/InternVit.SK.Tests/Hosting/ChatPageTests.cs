using InternVit.SK.Tests.Export;
using Microsoft.Playwright;

namespace InternVit.SK.Tests.Hosting;

/// <summary>The chat page at <c>/</c> in headless Chromium (Debian's chromium, installed by scripts/setup.sh).</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ChatPageTests(ConvertedTinyModel tiny)
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task Upload_an_image_ask_and_see_the_answer_stream_in()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: run scripts/setup.sh (it installs Debian's chromium)");
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync();
        await page.GotoAsync(server.Address.ToString());
        await page.WaitForFunctionAsync("() => document.getElementById('model').textContent === 'model'");

        await page.SetInputFilesAsync("#file", Path.Combine(TestPaths.Fixtures, "images", "table_1600x900.png"));
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
        string text = await answer!.InnerTextAsync();

        // The one_image golden's greedy answer repeats ".getSelectionModel"; the page's request has no token limit, so it runs on.
        Assert.StartsWith(".getSelectionModel.getSelectionModel.getSelectionModel", text);
        var lengths = await page.EvaluateAsync<int[]>("() => window.lengths");
        Assert.True(lengths.Distinct().Count() > 5, $"the answer arrived in {lengths.Distinct().Count()} step(s), not streamed");
        Assert.Equal(1, await page.Locator(".user img").CountAsync());
        Assert.Equal(0, await page.Locator(".error").CountAsync());
    }
}
