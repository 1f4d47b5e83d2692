using InternVit.SK.Generation;
using InternVit.SK.Hosting;
using InternVit.SK.Plugin;
using InternVit.SK.Tests.Export;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace InternVit.SK.Tests.Hosting;

/// <summary><c>AddInternVL</c>: binding, the registered singletons, and start-up validation with named settings.</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class InternVLServiceCollectionTests(ConvertedTinyModel tiny)
{
    [Fact]
    public async Task Configuration_binds_and_the_model_client_and_tools_are_singletons()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["InternVL:ModelPath"] = tiny.Directory,
            ["InternVL:MaxTiles"] = "2",
            ["InternVL:AllowedImageRoots:0"] = Path.Combine(TestPaths.Fixtures, "images"),
            ["InternVL:MaxConcurrentGenerations"] = "2",
        }).Build();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddInternVL(configuration.GetSection("InternVL"));
        using var host = builder.Build();
        await host.StartAsync(); // validation and warm-up (the model loads here)

        var options = host.Services.GetRequiredService<IOptions<InternVLOptions>>().Value;
        Assert.Equal(2, options.MaxTiles);
        Assert.Equal(2, options.MaxConcurrentGenerations);
        var model = host.Services.GetRequiredService<InternVLModel>();
        Assert.Same(model, host.Services.GetRequiredService<InternVLModel>());
        Assert.Equal(2, model.DefaultMaxTiles);
        var chat = host.Services.GetRequiredService<IChatClient>();
        Assert.Same(host.Services.GetRequiredService<InternVLChatClient>(), chat);
        Assert.Same(model, chat.GetService(typeof(InternVLModel)));

        // The configured roots reach the tools: a fixture image by relative name works, with at most 2 tiles (+ thumbnail).
        var tools = host.Services.GetRequiredService<VisionTools>().AsAIFunctions();
        var ask = tools.Single(t => t.Name == "ask_image");
        var answer = await ask.InvokeAsync(new AIFunctionArguments { ["image"] = "table_1600x900.png", ["question"] = "What is it?" });
        using var json = System.Text.Json.JsonDocument.Parse(answer!.ToString()!);
        Assert.Equal(1, json.RootElement.GetProperty("images").GetInt32());
        Assert.Equal(3 * 256, json.RootElement.GetProperty("usage").GetProperty("imageTokens").GetInt32()); // 2x1 grid + thumbnail
        await host.StopAsync();
    }

    [Fact]
    public async Task Bad_settings_stop_the_host_at_start_naming_each_setting()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddInternVL(o =>
        {
            o.ModelPath = "/no/such/model";
            o.MaxTiles = 99;
            o.MaxConcurrentGenerations = 0;
            o.ExecutionProvider = "tpu";
            o.AllowRemoteImages = true;
            o.AllowedImageRoots = ["/no/such/folder"];
        });
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        string message = string.Join("\n", e.Failures);
        foreach (string setting in (string[])["ModelPath '/no/such/model'", "MaxTiles", "MaxConcurrentGenerations", "ExecutionProvider 'tpu'", "AllowedImageHosts", "AllowedImageRoots entry '/no/such/folder'"])
            Assert.Contains(setting, message);
    }

    [Fact]
    public async Task A_missing_model_path_is_named()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddInternVL(_ => { });
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("ModelPath is required", string.Join("\n", e.Failures));
    }
}
