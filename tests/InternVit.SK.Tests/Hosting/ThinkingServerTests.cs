using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using InternVit.SK.Generation;
using InternVit.SK.Hosting;
using InternVit.SK.Tests.Export;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Tests.Hosting;

/// <summary>
/// Thinking mode over the OpenAI-compatible API: <c>chat_template_kwargs.enable_thinking</c> (vLLM's request field)
/// reaches the prompt, <c>reasoning_content</c> on an assistant message goes back into the history inside think tags,
/// and responses carry <c>reasoning_content</c> in the message as vLLM's reasoning parsers do.
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ThinkingServerTests(ConvertedTinyModel tiny)
{
    private static async Task<(HttpStatusCode Status, JsonNode Body)> PostAsync(TinyServer server, string body)
    {
        using var http = new HttpClient { BaseAddress = server.Address };
        using var response = await http.PostAsync("v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    [Fact]
    public async Task Enable_thinking_in_chat_template_kwargs_puts_the_thinking_prompt_in_front()
    {
        var expected = await tiny.Model.StartConversation().GenerateAsync("Hello, who are you?", null, new GenerationOptions { MaxNewTokens = 8, Thinking = true });
        var plain = await tiny.Model.StartConversation().GenerateAsync("Hello, who are you?", null, new GenerationOptions { MaxNewTokens = 8 });
        Assert.NotEqual(plain.Usage.PromptTokens, expected.Usage.PromptTokens);

        await using var server = await TinyServer.StartAsync(tiny.Directory);
        var (status, body) = await PostAsync(server,
            """{"messages": [{"role": "user", "content": "Hello, who are you?"}], "max_tokens": 8, "chat_template_kwargs": {"enable_thinking": true}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var message = body["choices"]![0]!["message"]!;
        Assert.Equal(expected.Text, (string?)message["content"]);
        Assert.Equal(expected.Usage.PromptTokens, (int)body["usage"]!["prompt_tokens"]!);
        Assert.Null(message["reasoning_content"]); // the tiny model's random answer has no think block

        (status, body) = await PostAsync(server,
            """{"messages": [{"role": "user", "content": "Hello, who are you?"}], "max_tokens": 8, "chat_template_kwargs": {"enable_thinking": false}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(plain.Usage.PromptTokens, (int)body["usage"]!["prompt_tokens"]!);
        Assert.Equal(plain.Text, (string?)body["choices"]![0]!["message"]!["content"]);
    }

    [Theory]
    [InlineData("reasoning_content")]
    [InlineData("reasoning")]
    public async Task An_assistant_messages_reasoning_goes_back_into_the_history(string field)
    {
        var conversation = tiny.Model.StartConversation();
        conversation.AddTurn("Hello, who are you?", null, "I am InternVL.", "\nThe user asks who I am.\n");
        var expected = await conversation.GenerateAsync("And what can you do?", null, new GenerationOptions { MaxNewTokens = 8 });

        await using var server = await TinyServer.StartAsync(tiny.Directory);
        var (status, body) = await PostAsync(server, $$"""
            {"max_tokens": 8, "messages": [
              {"role": "user", "content": "Hello, who are you?"},
              {"role": "assistant", "content": "I am InternVL.", "{{field}}": "\nThe user asks who I am.\n"},
              {"role": "user", "content": "And what can you do?"}]}
            """);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(expected.Usage.PromptTokens, (int)body["usage"]!["prompt_tokens"]!);
        Assert.Equal(expected.Text, (string?)body["choices"]![0]!["message"]!["content"]);
    }

    [Theory]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": {"add_generation_prompt": true}}""", "chat_template_kwargs.add_generation_prompt is not supported")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": {"enable_thinking": "yes"}}""", "enable_thinking must be true or false")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": true}""", "chat_template_kwargs must be an object")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a", "reasoning_content": 3}, {"role": "user", "content": "b"}]}""", "messages[1].reasoning_content must be a string")]
    public async Task Bad_thinking_fields_are_400s_naming_them(string request, string message)
    {
        await using var server = await TinyServer.StartAsync(tiny.Directory);
        var (status, body) = await PostAsync(server, request);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(message, (string?)body["error"]!["message"]);
    }

    [Fact]
    public void A_response_with_reasoning_has_reasoning_content_in_its_message_and_parsing_reads_it_back()
    {
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, [new TextReasoningContent("\nLet me see.\n"), new TextContent("Three rows.")]));
        var message = OpenAiProtocol.Completion("id", 0, "model", response)["choices"]![0]!["message"]!;
        Assert.Equal("Three rows.", (string?)message["content"]);
        Assert.Equal("\nLet me see.\n", (string?)message["reasoning_content"]);
        var withoutReasoning = OpenAiProtocol.Completion("id", 0, "model", new ChatResponse(new ChatMessage(ChatRole.Assistant, "Three rows.")))["choices"]![0]!["message"]!;
        Assert.False(withoutReasoning.AsObject().ContainsKey("reasoning_content"));

        // The message sent back parses into the same contents: reasoning first, then the answer.
        var request = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "q" }, message.DeepClone(), new JsonObject { ["role"] = "user", ["content"] = "q2" }),
            ["chat_template_kwargs"] = new JsonObject { ["enable_thinking"] = true },
        };
        using var document = JsonDocument.Parse(request.ToJsonString());
        var parsed = OpenAiProtocol.ParseRequest(document.RootElement, "model", 1 << 20, 4);
        var contents = parsed.Messages[1].Contents;
        Assert.Equal("\nLet me see.\n", Assert.IsType<TextReasoningContent>(contents[0]).Text);
        Assert.Equal("Three rows.", Assert.IsType<TextContent>(contents[1]).Text);
        Assert.Equal(true, parsed.Options.AdditionalProperties![InternVit.SK.Plugin.InternVLChatClient.ThinkingProperty]);
    }
}
