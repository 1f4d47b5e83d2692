using InternVit.SK.Checkpoints;
using InternVit.SK.Text;

namespace InternVit.SK.Tests.Text;

/// <summary>Prompts of every template against strings derived from the official code.</summary>
public class PromptBuilderTests
{
    /// <summary>
    /// Expected queries: what the official conversation.py (OpenGVLab/InternVL 2410d1d, <c>get_conv_template</c>) and the
    /// prompt part of <c>InternVLChatModel.chat()</c> produce for the same question, num_patches_list, history and
    /// num_image_token (kept small here so the strings stay readable).
    /// </summary>
    public static TheoryData<string, string, string, int[], ChatTurn[]?, int, string> OfficialPrompts() => new()
    {
        { "internvl2_5", "text_only", "Hello, who are you?", new int[] {  }, null, 256,
            "<|im_start|>system\n你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。<|im_end|>\n<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n" },
        { "internvl2_5", "one_image_2_tokens_per_tile", "What is in it?", new int[] { 1 }, null, 2,
            "<|im_start|>system\n你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is in it?<|im_end|>\n<|im_start|>assistant\n" },
        { "internvl2_5", "history_without_images", "And the colour?", new int[] {  }, [new ChatTurn("<image>\nWhat is in it?", "A cat.")], 256,
            "<|im_start|>system\n你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。<|im_end|>\n<|im_start|>user\n<image>\nWhat is in it?<|im_end|>\n<|im_start|>assistant\nA cat.<|im_end|>\n<|im_start|>user\nAnd the colour?<|im_end|>\n<|im_start|>assistant\n" },
        { "internvl2_5", "two_images_1_token_per_tile", "Image-1: <image>\nImage-2: <image>\nCompare.", new int[] { 1, 2 }, null, 1,
            "<|im_start|>system\n你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。<|im_end|>\n<|im_start|>user\nImage-1: <img><IMG_CONTEXT></img>\nImage-2: <img><IMG_CONTEXT><IMG_CONTEXT></img>\nCompare.<|im_end|>\n<|im_start|>assistant\n" },
        { "internvl2_5", "history_with_the_image_again", "And the colour?", new int[] { 2 }, [new ChatTurn("<image>\nWhat is in it?", "A cat.")], 1,
            "<|im_start|>system\n你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is in it?<|im_end|>\n<|im_start|>assistant\nA cat.<|im_end|>\n<|im_start|>user\nAnd the colour?<|im_end|>\n<|im_start|>assistant\n" },
        { "Hermes-2", "text_only", "Hello, who are you?", new int[] {  }, null, 256,
            "<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\nHello, who are you?<|im_end|><|im_start|>assistant\n" },
        { "Hermes-2", "one_image_2_tokens_per_tile", "What is in it?", new int[] { 1 }, null, 2,
            "<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is in it?<|im_end|><|im_start|>assistant\n" },
        { "Hermes-2", "history_without_images", "And the colour?", new int[] {  }, [new ChatTurn("<image>\nWhat is in it?", "A cat.")], 256,
            "<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\n<image>\nWhat is in it?<|im_end|><|im_start|>assistant\nA cat.<|im_end|><|im_start|>user\nAnd the colour?<|im_end|><|im_start|>assistant\n" },
        { "Hermes-2", "two_images_1_token_per_tile", "Image-1: <image>\nImage-2: <image>\nCompare.", new int[] { 1, 2 }, null, 1,
            "<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\nImage-1: <img><IMG_CONTEXT></img>\nImage-2: <img><IMG_CONTEXT><IMG_CONTEXT></img>\nCompare.<|im_end|><|im_start|>assistant\n" },
        { "Hermes-2", "history_with_the_image_again", "And the colour?", new int[] { 2 }, [new ChatTurn("<image>\nWhat is in it?", "A cat.")], 1,
            "<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is in it?<|im_end|><|im_start|>assistant\nA cat.<|im_end|><|im_start|>user\nAnd the colour?<|im_end|><|im_start|>assistant\n" },
        { "internlm2-chat", "text_only", "Hello, who are you?", new int[] {  }, null, 256,
            "<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\nHello, who are you?<|im_end|><|im_start|>assistant\n" },
        { "internlm2-chat", "one_image_2_tokens_per_tile", "What is in it?", new int[] { 1 }, null, 2,
            "<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is in it?<|im_end|><|im_start|>assistant\n" },
        { "internlm2-chat", "history_without_images", "And the colour?", new int[] {  }, [new ChatTurn("<image>\nWhat is in it?", "A cat.")], 256,
            "<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\n<image>\nWhat is in it?<|im_end|><|im_start|>assistant\nA cat.<|im_end|><|im_start|>user\nAnd the colour?<|im_end|><|im_start|>assistant\n" },
        { "internlm2-chat", "two_images_1_token_per_tile", "Image-1: <image>\nImage-2: <image>\nCompare.", new int[] { 1, 2 }, null, 1,
            "<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\nImage-1: <img><IMG_CONTEXT></img>\nImage-2: <img><IMG_CONTEXT><IMG_CONTEXT></img>\nCompare.<|im_end|><|im_start|>assistant\n" },
        { "internlm2-chat", "history_with_the_image_again", "And the colour?", new int[] { 2 }, [new ChatTurn("<image>\nWhat is in it?", "A cat.")], 1,
            "<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is in it?<|im_end|><|im_start|>assistant\nA cat.<|im_end|><|im_start|>user\nAnd the colour?<|im_end|><|im_start|>assistant\n" },
        { "phi3-chat", "text_only", "Hello, who are you?", new int[] {  }, null, 256,
            "<|system|>\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|end|><|user|>\nHello, who are you?<|end|><|assistant|>\n" },
        { "phi3-chat", "one_image_2_tokens_per_tile", "What is in it?", new int[] { 1 }, null, 2,
            "<|system|>\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|end|><|user|>\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is in it?<|end|><|assistant|>\n" },
        { "phi3-chat", "history_without_images", "And the colour?", new int[] {  }, [new ChatTurn("<image>\nWhat is in it?", "A cat.")], 256,
            "<|system|>\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|end|><|user|>\n<image>\nWhat is in it?<|end|><|assistant|>\nA cat.<|end|><|user|>\nAnd the colour?<|end|><|assistant|>\n" },
        { "phi3-chat", "two_images_1_token_per_tile", "Image-1: <image>\nImage-2: <image>\nCompare.", new int[] { 1, 2 }, null, 1,
            "<|system|>\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|end|><|user|>\nImage-1: <img><IMG_CONTEXT></img>\nImage-2: <img><IMG_CONTEXT><IMG_CONTEXT></img>\nCompare.<|end|><|assistant|>\n" },
        { "phi3-chat", "history_with_the_image_again", "And the colour?", new int[] { 2 }, [new ChatTurn("<image>\nWhat is in it?", "A cat.")], 1,
            "<|system|>\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。<|end|><|user|>\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat is in it?<|end|><|assistant|>\nA cat.<|end|><|user|>\nAnd the colour?<|end|><|assistant|>\n" },
    };

    [Theory]
    [MemberData(nameof(OfficialPrompts))]
    public void Query_matches_the_official_chat(string template, string name, string question, int[] tiles, ChatTurn[]? history, int tokensPerTile, string expected)
    {
        Assert.NotEmpty(name);
        var prompt = new PromptBuilder(ConversationTemplate.Get(template), tokensPerTile).Build(question, tiles, history);
        Assert.Equal(expected, prompt.Query);
        Assert.Equal(tiles.Sum() * tokensPerTile, prompt.ImageTokenCount);
    }

    [Theory]
    [InlineData("internvl2_5", "<|im_end|>", 151645)]
    [InlineData("Hermes-2", "<|im_end|>", 151645)]
    [InlineData("internlm2-chat", "<|im_end|>", 151645)]
    [InlineData("phi3-chat", "<|end|>", -1)]
    public void Stop_token_is_the_stripped_separator(string template, string stopToken, int qwenId)
    {
        var builder = new PromptBuilder(ConversationTemplate.Get(template), 256);
        Assert.Equal(stopToken, builder.Template.StopToken);
        // With the Qwen2 tokenizer of the fixtures; phi3's <|end|> belongs to the Phi-3 vocabulary, not this one.
        Assert.Equal(qwenId < 0 ? [] : [qwenId], builder.StopTokenIds(TokenizerFixtures.Slow));
    }

    [Fact]
    public void Question_without_placeholder_gets_one_and_is_recorded_with_it()
    {
        var builder = new PromptBuilder(ConversationTemplate.InternVL25, 256);
        var prompt = builder.Build("Describe the image.", [9]);
        Assert.Equal("<image>\nDescribe the image.", prompt.Question);
        Assert.Equal(9 * 256, prompt.ImageTokenCount);
        // With history, chat() prepends nothing: the placeholder of the first turn is the one that is expanded again.
        var next = builder.Build("And the colours?", [9], [new ChatTurn(prompt.Question, "A table.")]);
        Assert.Equal("And the colours?", next.Question);
        Assert.Contains("<|im_start|>user\n<img><IMG_CONTEXT>", next.Query);
    }

    [Fact]
    public void Several_images_without_placeholders_follow_the_multi_image_convention()
    {
        var prompt = new PromptBuilder(ConversationTemplate.InternVL25, 1).Build("Compare.", [1, 2]);
        Assert.Equal("Image-1: <image>\nImage-2: <image>\nCompare.", prompt.Question);
        Assert.Contains("user\nImage-1: <img><IMG_CONTEXT></img>\nImage-2: <img><IMG_CONTEXT><IMG_CONTEXT></img>\nCompare.<|im_end|>", prompt.Query);
    }

    [Fact]
    public void More_images_than_placeholders_is_refused()
    {
        var builder = new PromptBuilder(ConversationTemplate.InternVL25, 256);
        var e = Assert.Throws<ArgumentException>(() => builder.Build("Image-1: <image>\nWhat is this?", [1, 1]));
        Assert.Contains("2 images but only 1", e.Message);
        Assert.Throws<ArgumentException>(() => builder.Build("<image>", [0]));
    }

    [Fact]
    public void Unknown_template_names_the_supported_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => ConversationTemplate.Get("vicuna_v1.1"));
        Assert.Contains("internvl2_5, Hermes-2, internlm2-chat, phi3-chat", e.Message);
    }

    [Fact]
    public void Custom_system_message_replaces_the_default()
    {
        var prompt = new PromptBuilder(ConversationTemplate.Hermes2, 256, "Answer the questions.").Build("Hi", []);
        Assert.Equal("<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\nHi<|im_end|><|im_start|>assistant\n", prompt.Query);
    }

    [Theory]
    [InlineData("internvl2_5", " A cat.  <|im_end|>\nleftover", "A cat.")]
    [InlineData("internvl2_5", "\u001f\n A cat.\t", "A cat.")]
    [InlineData("phi3-chat", "Two dogs.<|end|><|user|>", "Two dogs.")]
    [InlineData("Hermes-2", "no stop token ", "no stop token")]
    public void Response_is_split_at_the_stop_token_and_stripped_like_python(string template, string decoded, string expected)
    {
        Assert.Equal(expected, new PromptBuilder(ConversationTemplate.Get(template), 256).ExtractResponse(decoded));
    }

    [Fact]
    public void Checkpoint_gives_template_and_tokens_per_tile()
    {
        var builder = PromptBuilder.ForCheckpoint(InternVLConfig.Load(TestPaths.TinyCheckpoint));
        Assert.Same(ConversationTemplate.InternVL25, builder.Template);
        Assert.Equal(256, builder.TokensPerTile);
        Assert.Equal(ConversationTemplate.InternVL25.SystemMessage, builder.SystemMessage);
    }
}
