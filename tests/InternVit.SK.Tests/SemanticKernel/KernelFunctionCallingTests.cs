using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Generation;
using InternVit.SK.Plugin;
using InternVit.SK.Tests.Export;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using FunctionInvocationContext = Microsoft.SemanticKernel.FunctionInvocationContext;

namespace InternVit.SK.Tests.SemanticKernel;

/// <summary>
/// Semantic Kernel's own function calling (FunctionChoiceBehavior.Auto, its function-invoking chat client, its
/// function-invocation filters) driving the vision plugin for a scripted planner: the planner asks for a vision
/// function, SK runs the local model through the plugin, and the tool's JSON reaches the planner's next call.
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class KernelFunctionCallingTests(ConvertedTinyModel tiny)
{
    private const string ServiceId = "internvl";
    private static readonly string Images = Path.Combine(TestPaths.Fixtures, "images");

    private static string GoldenText(string prompt) =>
        (string)JsonNode.Parse(File.ReadAllText(Goldens.ModelA("manifest.json")))!["prompts"]![prompt]!["generated_text_skip_special"]!;

    /// <summary>A kernel with the planner as its default chat service (SK's function invocation around it) and the local model's vision plugin.</summary>
    private Kernel Kernel(ScriptedPlanner planner)
    {
        var builder = Microsoft.SemanticKernel.Kernel.CreateBuilder();
        builder.AddInternVLChatCompletion(tiny.Model, ServiceId, o =>
        {
            o.AllowedImageRoots.Add(Images);
            o.MaxOutputTokens = 24;
        });
        builder.Plugins.AddInternVLVision(ServiceId);
        IChatClient client = planner.AsBuilder().UseKernelFunctionInvocation().Build();
        builder.Services.AddSingleton(client);
        builder.Services.AddSingleton(client.AsChatCompletionService());
        return builder.Build();
    }

    private static PromptExecutionSettings Auto => new() { FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() };

    [Fact]
    public async Task Auto_function_calling_runs_the_vision_functions_and_the_planner_gets_their_json()
    {
        var planner = new ScriptedPlanner(
            (_, _) => new Microsoft.Extensions.AI.ChatMessage(ChatRole.Assistant,
            [
                new Microsoft.Extensions.AI.FunctionCallContent("call-1", "vision_ask_image", new Dictionary<string, object?> { ["image"] = "table_1600x900.png", ["question"] = "Describe the image." }),
                new Microsoft.Extensions.AI.FunctionCallContent("call-2", "vision_extract_text", new Dictionary<string, object?> { ["image"] = "exact_448x448.png" }),
            ]),
            ScriptedPlanner.Answer("The image shows a table."));
        var kernel = Kernel(planner);
        var seen = new List<string>();
        kernel.FunctionInvocationFilters.Add(new RecordingFilter(seen));

        var history = new ChatHistory("You answer questions about images with the vision tools.");
        history.AddUserMessage("What does table_1600x900.png show, and what text is in exact_448x448.png?");
        var reply = await kernel.GetRequiredService<IChatCompletionService>().GetChatMessageContentAsync(history, Auto, kernel);

        Assert.Equal("The image shows a table.", reply.Content);
        Assert.Equal(2, planner.Calls.Count);
        // The first call offered the plugin's functions, by their function-calling names.
        Assert.Contains("vision_extract_text", planner.Calls[0].Options!.Tools!.Select(t => t.Name));
        Assert.Equal(["vision.ask_image", "vision.extract_text"], seen);

        // The second call carries each tool's JSON: ask_image's greedy answer is the one_image golden ...
        var answer = ScriptedPlanner.Json(planner.ResultOf(1, "call-1").Result);
        Assert.Equal(GoldenText("one_image"), answer.GetProperty("answer").GetString());
        Assert.Equal(2304, answer.GetProperty("usage").GetProperty("imageTokens").GetInt32());

        // ... and extract_text's is exactly what the tool returns when called directly.
        using var tools = new VisionTools(tiny.Model, new VisionToolsOptions { ImageSources = new() { AllowedRoots = [Images] }, MaxOutputTokens = 24 });
        var direct = await tools.AsAIFunctions().Single(f => f.Name == "extract_text").InvokeAsync(new AIFunctionArguments { ["image"] = "exact_448x448.png" });
        Assert.Equal(ScriptedPlanner.Json(direct).GetRawText(), ScriptedPlanner.Json(planner.ResultOf(1, "call-2").Result).GetRawText());
    }

    [Fact]
    public async Task A_function_invocation_filter_that_refuses_a_vision_call_is_heard_by_the_planner()
    {
        var planner = new ScriptedPlanner(
            ScriptedPlanner.Call("call-1", "vision_extract_text", new() { ["image"] = "receipt_576x1400.png" }),
            ScriptedPlanner.Answer("I may not read that receipt."));
        var kernel = Kernel(planner);
        kernel.FunctionInvocationFilters.Add(new RefusingFilter("extract_text"));
        var generations = 0;
        kernel.Services.GetRequiredKeyedService<VisionTools>(ServiceId).Generated = (_, _) => Interlocked.Increment(ref generations);

        var result = await kernel.InvokePromptAsync("Read the receipt receipt_576x1400.png.", new KernelArguments(Auto));

        Assert.Equal("I may not read that receipt.", result.ToString());
        Assert.Equal(RefusingFilter.Refusal, planner.ResultOf(1, "call-1").Result?.ToString());
        Assert.Equal(0, generations); // the model never ran
    }

    private sealed class RecordingFilter(List<string> seen) : IFunctionInvocationFilter
    {
        public async Task OnFunctionInvocationAsync(FunctionInvocationContext context, Func<FunctionInvocationContext, Task> next)
        {
            lock (seen) seen.Add($"{context.Function.PluginName}.{context.Function.Name}");
            Assert.True(context.Arguments.ContainsName("image"));
            await next(context);
            Assert.NotNull(context.Result.GetValue<object>());
        }
    }

    private sealed class RefusingFilter(string function) : IFunctionInvocationFilter
    {
        public const string Refusal = "refused: reading receipts is not allowed here";

        public Task OnFunctionInvocationAsync(FunctionInvocationContext context, Func<FunctionInvocationContext, Task> next)
        {
            if (context.Function.PluginName == "vision" && context.Function.Name == function)
            {
                context.Result = new FunctionResult(context.Function, Refusal);
                return Task.CompletedTask;
            }
            return next(context);
        }
    }
}
