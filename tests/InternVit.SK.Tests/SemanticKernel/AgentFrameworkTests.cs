using System.Text.Json.Nodes;
using InternVit.SK.Plugin;
using InternVit.SK.Tests.Export;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Tests.SemanticKernel;

/// <summary>Microsoft's Agent Framework (Microsoft.Agents.AI): a ChatClientAgent with the vision tools, and the local model as an agent's chat client.</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class AgentFrameworkTests(ConvertedTinyModel tiny)
{
    private static readonly string Images = Path.Combine(TestPaths.Fixtures, "images");

    private static JsonNode Golden(string prompt) => JsonNode.Parse(File.ReadAllText(Goldens.ModelA("manifest.json")))!["prompts"]![prompt]!;

    [Fact]
    public async Task An_agent_with_the_vision_tools_calls_them_and_the_planner_gets_their_json()
    {
        using var vision = new VisionTools(tiny.Model, new VisionToolsOptions { ImageSources = new() { AllowedRoots = [Images] }, MaxOutputTokens = 24 });
        var planner = new ScriptedPlanner(
            ScriptedPlanner.Call("call-1", "ask_image", new() { ["image"] = "table_1600x900.png", ["question"] = "Describe the image." }),
            ScriptedPlanner.Answer("It is a table."));
        AIAgent agent = new ChatClientAgent(planner, instructions: "Answer questions about images with the vision tools.", name: "vision-agent",
            tools: [.. vision.AsAIFunctions()]);

        var response = await agent.RunAsync("What does table_1600x900.png show?");

        Assert.Equal("It is a table.", response.Text);
        Assert.Equal(2, planner.Calls.Count);
        Assert.Equal(["describe_image", "ask_image", "extract_text", "answer_document_question", "locate"], planner.Calls[0].Options!.Tools!.Select(t => t.Name));
        Assert.Equal("Answer questions about images with the vision tools.", planner.Calls[0].Options!.Instructions);
        var json = ScriptedPlanner.Json(planner.ResultOf(1, "call-1").Result);
        Assert.Equal((string)Golden("one_image")["generated_text_skip_special"]!, json.GetProperty("answer").GetString());
        Assert.Equal((int)Golden("one_image")["seq_len"]!, json.GetProperty("usage").GetProperty("promptTokens").GetInt32());
    }

    [Fact]
    public async Task The_local_model_answers_as_an_agents_chat_client_with_images()
    {
        using var client = new InternVLChatClient(tiny.Model);
        AIAgent agent = new ChatClientAgent(client, new ChatClientAgentOptions
        {
            Name = "internvl",
            ChatOptions = new ChatOptions { MaxOutputTokens = 24 },
        });
        var message = new ChatMessage(ChatRole.User,
        [
            new DataContent(File.ReadAllBytes(Path.Combine(Images, "exact_448x448.png")), "image/png"),
            new DataContent(File.ReadAllBytes(Path.Combine(Images, "photo_webp_800x450.webp")), "image/webp"),
            new TextContent("Describe the two images."),
        ]);
        var response = await agent.RunAsync(message);
        Assert.Equal((string)Golden("two_images")["generated_text_skip_special"]!, response.Text);
    }
}
