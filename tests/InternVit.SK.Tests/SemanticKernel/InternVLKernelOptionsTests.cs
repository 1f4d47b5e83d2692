using InternVit.SK.Onnx;
using InternVit.SK.SemanticKernel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;

namespace InternVit.SK.Tests.SemanticKernel;

/// <summary>AddInternVLChatCompletion's settings: bound from configuration or set in code, checked when registered. No model is loaded here.</summary>
public sealed class InternVLKernelOptionsTests
{
    private static readonly string Images = Path.Combine(TestPaths.Fixtures, "images");

    [Fact]
    public void Settings_bind_from_a_configuration_section()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["InternVL:ModelPath"] = TestPaths.TinyCheckpoint,
            ["InternVL:ModelId"] = "tiny",
            ["InternVL:ExecutionProvider"] = "cuda",
            ["InternVL:Threads"] = "2",
            ["InternVL:MaxTiles"] = "4",
            ["InternVL:MaxOutputTokens"] = "64",
            ["InternVL:AllowedImageRoots:0"] = Images,
            ["InternVL:AllowRemoteImages"] = "true",
            ["InternVL:AllowedImageHosts:0"] = "images.example.com",
            ["InternVL:ImageFetchTimeout"] = "00:00:03",
        }).Build();
        var builder = Kernel.CreateBuilder();
        builder.AddInternVLChatCompletion(configuration.GetSection("InternVL"), serviceId: "internvl");
        var options = builder.Build().Services.GetRequiredKeyedService<InternVLKernelOptions>("internvl");

        Assert.Equal(TestPaths.TinyCheckpoint, options.ModelPath);
        Assert.Equal("tiny", options.ModelId);
        Assert.Equal(OrtExecutionProvider.Cuda, options.ExecutionProvider);
        Assert.Equal(2, options.Threads);
        Assert.Equal(4, options.MaxTiles);
        Assert.Equal(64, options.MaxOutputTokens);
        Assert.Equal([Images], options.AllowedImageRoots);
        Assert.True(options.AllowRemoteImages);
        Assert.Equal(["images.example.com"], options.AllowedImageHosts);
        Assert.Equal(TimeSpan.FromSeconds(3), options.ImageFetchTimeout);

        var tools = options.ToVisionToolsOptions();
        Assert.Equal(64, tools.MaxOutputTokens);
        Assert.Equal(4, tools.MaxTiles);
        Assert.Equal([Images], tools.ImageSources.AllowedRoots);
        Assert.Equal(64, options.ToChatClientOptions().DefaultMaxOutputTokens);
        Assert.Equal(OrtExecutionProvider.Cuda, options.ToModelOptions().ExecutionProvider);
    }

    public static TheoryData<string, Action<InternVLKernelOptions>, string> BadSettings => new()
    {
        { "max tiles", o => o.MaxTiles = 0, "MaxTiles" },
        { "tokens", o => o.MaxOutputTokens = 0, "MaxOutputTokens" },
        { "root", o => o.AllowedImageRoots.Add("/no/such/folder"), "'/no/such/folder'" },
        { "hosts", o => o.AllowRemoteImages = true, "AllowedImageHosts" },
        { "threads", o => o.Threads = -1, "Threads" },
        { "timeout", o => o.ImageFetchTimeout = TimeSpan.Zero, "ImageFetchTimeout" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void Bad_settings_are_refused_when_registered_by_name(string what, Action<InternVLKernelOptions> configure, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => Kernel.CreateBuilder().AddInternVLChatCompletion(TestPaths.TinyCheckpoint, configure: configure));
        Assert.Contains(named, e.Message);
        Assert.NotEmpty(what);
    }

    [Fact]
    public void A_configuration_without_a_model_path_is_refused()
    {
        var empty = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["InternVL:MaxTiles"] = "2" }).Build();
        var e = Assert.Throws<ArgumentException>(() => Kernel.CreateBuilder().AddInternVLChatCompletion(empty.GetSection("InternVL")));
        Assert.Contains("ModelPath", e.Message);
    }
}
