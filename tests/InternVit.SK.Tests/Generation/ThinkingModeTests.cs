using InternVit.SK.Generation;
using InternVit.SK.Plugin;
using InternVit.SK.Tests.Export;
using InternVit.SK.Text;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Tests.Generation;

/// <summary>
/// Thinking mode end to end on the tiny checkpoint A: the option changes the prompt exactly as expected (its token ids
/// hold the published thinking system prompt), answers without a think block are unchanged, and a conversation and the
/// stateless IChatClient with the first answer fed back build the same second prompt, id for id.
/// </summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ThinkingModeTests(ConvertedTinyModel tiny)
{
    private InternVLModel Model => tiny.Model;

    /// <summary>Options that record the prompt's token ids.</summary>
    private static GenerationOptions Recording(List<int[]> prompts, bool thinking, int maxNewTokens = 8) =>
        new() { MaxNewTokens = maxNewTokens, Thinking = thinking, PromptEncoded = ids => prompts.Add([.. ids]) };

    private static bool ContainsRun(int[] ids, int[] run)
    {
        for (int i = 0; i + run.Length <= ids.Length; i++)
            if (ids.AsSpan(i, run.Length).SequenceEqual(run)) return true;
        return false;
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Answer in English.")]
    public async Task The_option_puts_the_thinking_system_prompt_in_the_prompt_exactly(string? systemPrompt)
    {
        var prompts = new List<int[]>();
        var result = await Model.StartConversation(systemPrompt).GenerateAsync("Hello, who are you?", null, Recording(prompts, thinking: true));

        // Independently: the template with the thinking system message (the published prompt, then the caller's after "\n").
        string system = systemPrompt is null ? ThinkingMode.SystemPrompt : ThinkingMode.SystemPrompt + "\n" + systemPrompt;
        string query = $"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n";
        Assert.Equal(Model.Tokenizer.Encode(query), Assert.Single(prompts));
        // The prompt's own ids, but its last (BPE merges its final "." with the "\n" before the caller's prompt).
        Assert.True(ContainsRun(prompts[0], Model.Tokenizer.Encode(ThinkingMode.SystemPrompt)[..^1]), "the prompt's ids do not hold the thinking system prompt's");
        Assert.Equal(prompts[0].Length, result.Usage.PromptTokens);

        // Without the option, the template's own system message (or the caller's) and nothing of the thinking prompt.
        await Model.StartConversation(systemPrompt).GenerateAsync("Hello, who are you?", null, Recording(prompts, thinking: false));
        Assert.False(ContainsRun(prompts[1], Model.Tokenizer.Encode(ThinkingMode.SystemPrompt)));
        Assert.Equal(Model.Tokenizer.Encode(Model.CreatePromptBuilder(systemPrompt).Build("Hello, who are you?", []).Query), prompts[1]);
    }

    [Fact]
    public async Task Thinking_is_the_same_as_the_thinking_prompt_set_as_system_message()
    {
        // chat() with model.system_message = R1_SYSTEM_PROMPT: the same prompt, so the same greedy tokens.
        var viaOption = await Model.StartConversation().GenerateAsync("Hello, who are you?", null, new GenerationOptions { MaxNewTokens = 12, Thinking = true });
        var viaSystem = await Model.StartConversation(ThinkingMode.SystemPrompt).GenerateAsync("Hello, who are you?", null, new GenerationOptions { MaxNewTokens = 12 });
        Assert.Equal(viaSystem.TokenIds, viaOption.TokenIds);
        Assert.Equal(viaSystem.Text, viaOption.Text);
        Assert.Equal(viaSystem.Usage, viaOption.Usage);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_answer_with_no_think_block_is_unchanged(bool thinking)
    {
        // The tiny model's greedy text is random and opens with no <think>: the answer is the whole decoded output.
        var streamed = new System.Text.StringBuilder();
        var reasoning = new System.Text.StringBuilder();
        GenerationResult? result = null;
        await foreach (var update in Model.StartConversation().StreamAsync("Hello, who are you?", null, new GenerationOptions { MaxNewTokens = 24, Thinking = thinking }))
        {
            streamed.Append(update.Text);
            reasoning.Append(update.Reasoning);
            result ??= update.Result;
        }
        Assert.NotNull(result);
        Assert.Null(result.Reasoning);
        Assert.Equal("", reasoning.ToString());
        var generated = result.TokenIds.Where(id => !Model.StopTokenIds.Contains(id)).ToArray();
        Assert.Equal(Model.Tokenizer.Decode(generated, skipSpecialTokens: true), result.Text);
        Assert.Equal(result.Text, streamed.ToString());
        if (!thinking)
        {
            Assert.Equal(GenerationGoldenTests.Case("text_only").Expected, result.TokenIds);
            Assert.Equal((string)GenerationGoldenTests.Case("text_only").Golden["generated_text_skip_special"]!, result.Text);
        }
    }

    [Fact]
    public async Task Two_turns_via_the_conversation_and_via_the_chat_client_build_the_same_second_prompt()
    {
        // Via the conversation, thinking on.
        var direct = new List<int[]>();
        var conversation = Model.StartConversation("Be brief.");
        var first = await conversation.GenerateAsync("Hello, who are you?", null, Recording(direct, thinking: true, maxNewTokens: 10));
        await conversation.GenerateAsync("And what can you do?", null, Recording(direct, thinking: true));

        // Via the client: the first response's messages fed back, then the second question.
        using var client = new InternVLChatClient(Model);
        var options = new ChatOptions { MaxOutputTokens = 10, AdditionalProperties = new() { [InternVLChatClient.ThinkingProperty] = true } };
        List<ChatMessage> messages = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Hello, who are you?")];
        var response = await client.GetResponseAsync(messages, options);
        Assert.Equal(first.Text, response.Text);
        messages.AddRange(response.Messages);
        messages.Add(new(ChatRole.User, "And what can you do?"));

        // The client's own mapping of that transcript, run with the prompt recorded.
        var viaClient = new List<int[]>();
        var request = await client.ToRequestAsync(messages, options, CancellationToken.None);
        var replay = Model.StartConversation(request.SystemPrompt);
        foreach (var turn in request.History) replay.AddTurn(turn.Question, turn.Images, turn.Answer);
        var generation = client.ToGenerationOptions(options) with { MaxNewTokens = 8, PromptEncoded = ids => viaClient.Add([.. ids]) };
        Assert.True(generation.Thinking);
        await replay.GenerateAsync(request.Question, request.Images, generation);

        Assert.Equal(direct[1], Assert.Single(viaClient));
        Assert.Equal(conversation.History[0].Answer, request.History[0].Answer);
    }

    [Fact]
    public async Task An_assistant_message_with_reasoning_goes_back_into_the_prompt_inside_think_tags()
    {
        // What a thinking-mode response looks like as messages: reasoning content, then the answer.
        using var client = new InternVLChatClient(Model);
        ChatMessage[] messages =
        [
            new(ChatRole.User, "Hello, who are you?"),
            new(ChatRole.Assistant, [new TextReasoningContent("\nThe user asks who I am.\n"), new TextContent("I am InternVL.")]),
            new(ChatRole.User, "And what can you do?"),
        ];
        var request = await client.ToRequestAsync(messages, null, CancellationToken.None);
        Assert.Equal("<think>\nThe user asks who I am.\n</think>\n\nI am InternVL.", request.History[0].Answer);

        // The same turn added to a conversation with its reasoning gives the same history, and the prompt holds the block.
        var prompts = new List<int[]>();
        var conversation = Model.StartConversation();
        conversation.AddTurn("Hello, who are you?", null, "I am InternVL.", "\nThe user asks who I am.\n");
        Assert.Equal(request.History[0].Answer, conversation.History[0].Answer);
        var response = await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 6 });
        var direct = await conversation.GenerateAsync("And what can you do?", null, Recording(prompts, thinking: false, maxNewTokens: 6));
        Assert.Equal(direct.Text, response.Text);
        Assert.Equal(prompts[0].Length, response.Usage!.InputTokenCount);
        string query = Model.CreatePromptBuilder(null).Build("And what can you do?", [], [new ChatTurn("Hello, who are you?", request.History[0].Answer)]).Query;
        Assert.Contains("<|im_start|>assistant\n<think>\nThe user asks who I am.\n</think>\n\nI am InternVL.<|im_end|>", query);
        Assert.Equal(Model.Tokenizer.Encode(query), prompts[0]);
    }
}
