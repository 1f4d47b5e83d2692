using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Plugin;
using InternVit.SK.Tests.Export;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;

namespace InternVit.SK.Tests.SemanticKernel;

/// <summary>The vision tools as a kernel plugin: names, descriptions and schemas as a planner sees them, and direct invocation from a kernel.</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class KernelVisionPluginTests(ConvertedTinyModel tiny)
{
    private static readonly string Images = Path.Combine(TestPaths.Fixtures, "images");
    private static readonly string[] Functions = ["describe_image", "ask_image", "extract_text", "answer_document_question", "locate"];

    private Kernel Kernel(string? serviceId = "internvl")
    {
        var builder = Microsoft.SemanticKernel.Kernel.CreateBuilder();
        builder.AddInternVLChatCompletion(tiny.Model, serviceId, o =>
        {
            o.AllowedImageRoots.Add(Images);
            o.MaxOutputTokens = 24;
        });
        builder.Plugins.AddInternVLVision(serviceId);
        return builder.Build();
    }

    [Fact]
    public void The_plugin_is_named_vision_and_a_planner_sees_described_functions_with_string_image_arguments()
    {
        var kernel = Kernel();
        var plugin = Assert.Single(kernel.Plugins);
        Assert.Equal("vision", plugin.Name);
        Assert.False(string.IsNullOrWhiteSpace(plugin.Description));
        Assert.Equal(Functions.Order(), plugin.Select(f => f.Name).Order());

        // What function calling sends a planner: the functions as AI tools, named plugin-function.
        var tools = new PromptExecutionSettings { FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() }.ToChatOptions(kernel).Tools!.OfType<AIFunctionDeclaration>().ToList();
        Assert.Equal(Functions.Select(f => "vision_" + f).Order(), tools.Select(t => t.Name).Order());
        foreach (var tool in tools)
        {
            Assert.True(tool.Description.Length > 20, tool.Name);
            var properties = tool.JsonSchema.GetProperty("properties");
            foreach (var parameter in properties.EnumerateObject())
                Assert.True(parameter.Value.TryGetProperty("description", out var d) && d.GetString()!.Length > 10, $"{tool.Name}.{parameter.Name} has no description");
            if (properties.TryGetProperty("image", out var image))
            {
                Assert.Equal("string", image.GetProperty("type").GetString());
                Assert.Contains("data URI", image.GetProperty("description").GetString());
            }
            Assert.False(properties.TryGetProperty("cancellationToken", out _));
        }
        var pages = tools.Single(t => t.Name == "vision_answer_document_question").JsonSchema.GetProperty("properties").GetProperty("pages");
        Assert.Equal("array", pages.GetProperty("type").GetString());
        Assert.Equal("string", pages.GetProperty("items").GetProperty("type").GetString());
        var locate = tools.Single(t => t.Name == "vision_locate").JsonSchema;
        Assert.Equal(["image", "phrase"], locate.GetProperty("required").EnumerateArray().Select(e => e.GetString()).Order());
    }

    [Fact]
    public async Task A_function_invoked_from_the_kernel_returns_the_tools_json_with_the_golden_answer()
    {
        var kernel = Kernel();
        var result = await kernel.InvokeAsync("vision", "ask_image", new KernelArguments { ["image"] = "table_1600x900.png", ["question"] = "Describe the image." });
        var json = ScriptedPlanner.Json(result.GetValue<object>());
        var golden = JsonNode.Parse(File.ReadAllText(Goldens.ModelA("manifest.json")))!["prompts"]!["one_image"]!;
        Assert.Equal((string)golden["generated_text_skip_special"]!, json.GetProperty("answer").GetString());
        Assert.Equal((int)golden["num_img_context_tokens"]!, json.GetProperty("usage").GetProperty("imageTokens").GetInt32());
        Assert.Equal(1, json.GetProperty("images").GetInt32());
    }

    [Fact]
    public async Task Image_arguments_outside_the_registrations_policy_are_refused()
    {
        var kernel = Kernel();
        var e = await Assert.ThrowsAsync<ImageSourceException>(() =>
            kernel.InvokeAsync("vision", "extract_text", new KernelArguments { ["image"] = "/etc/hostname" }));
        Assert.Equal(ImageSourceRefusal.NotAllowed, e.Reason);
    }

    [Fact]
    public void The_plugin_can_be_added_to_a_kernels_plugins_from_tools()
    {
        using var tools = new VisionTools(tiny.Model);
        var kernel = new Kernel();
        var plugin = kernel.Plugins.AddInternVLVision(tools, "eyes");
        Assert.Same(plugin, kernel.Plugins["eyes"]);
        Assert.Equal(Functions.Order(), plugin.Select(f => f.Name).Order());
        Assert.Equal(plugin.Select(f => f.Description), tools.AsKernelPlugin().Select(f => f.Description));
    }

    [Fact]
    public void The_plugin_needs_the_model_registered_under_its_service_id()
    {
        var builder = Microsoft.SemanticKernel.Kernel.CreateBuilder();
        builder.AddInternVLChatCompletion(tiny.Model, "internvl");
        builder.Plugins.AddInternVLVision("other");
        var e = Assert.Throws<InvalidOperationException>(() => builder.Build());
        Assert.Contains("'other'", e.Message);

        // Registered without a service id, the model is the default chat service and the plugin finds it.
        var kernel = Kernel(serviceId: null);
        Assert.Equal("vision", Assert.Single(kernel.Plugins).Name);
        Assert.NotNull(kernel.Services.GetService<Microsoft.SemanticKernel.ChatCompletion.IChatCompletionService>());
    }
}
