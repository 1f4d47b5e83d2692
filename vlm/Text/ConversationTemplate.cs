namespace InternVit.SK.Text;

/// <summary>
/// An InternVL conversation template, as registered in the official <c>internvl_chat/internvl/conversation.py</c>
/// (OpenGVLab/InternVL commit 2410d1d). The four templates InternVL checkpoints name in config.json's <c>template</c>
/// all use the separator style <c>MPT</c>:
/// <code>system_template.format(system_message) + sep, then per message: role + message + sep, and the open turn: role</code>
/// </summary>
/// <param name="Name">The name config.json uses, e.g. <c>internvl2_5</c>.</param>
/// <param name="SystemTemplate">The system prompt with a <c>{system_message}</c> slot.</param>
/// <param name="SystemMessage">The default system message.</param>
/// <param name="UserRole">The user's role marker, e.g. <c>&lt;|im_start|&gt;user\n</c>.</param>
/// <param name="AssistantRole">The assistant's role marker.</param>
/// <param name="Separator">What ends every message (<c>sep</c>).</param>
public sealed record ConversationTemplate(string Name, string SystemTemplate, string SystemMessage, string UserRole, string AssistantRole, string Separator)
{
    private const string InternVLSystemMessage = "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。";

    /// <summary>InternVL2.5 and InternVL3 (Qwen2.5 LLMs).</summary>
    public static ConversationTemplate InternVL25 { get; } = new("internvl2_5", "<|im_start|>system\n{system_message}",
        "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。",
        "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>\n");

    /// <summary>InternVL2-1B and other InternVL2 models on ChatML LLMs.</summary>
    public static ConversationTemplate Hermes2 { get; } = new("Hermes-2", "<|im_start|>system\n{system_message}", InternVLSystemMessage,
        "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>");

    /// <summary>InternVL2 models on InternLM2.</summary>
    public static ConversationTemplate InternLM2Chat { get; } = new("internlm2-chat", "<|im_start|>system\n{system_message}", InternVLSystemMessage,
        "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>");

    /// <summary>InternVL2-4B (Phi-3).</summary>
    public static ConversationTemplate Phi3Chat { get; } = new("phi3-chat", "<|system|>\n{system_message}", InternVLSystemMessage,
        "<|user|>\n", "<|assistant|>\n", "<|end|>");

    /// <summary>Every supported template.</summary>
    public static IReadOnlyList<ConversationTemplate> All { get; } = [InternVL25, Hermes2, InternLM2Chat, Phi3Chat];

    /// <summary>The template config.json names.</summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the supported ones.</exception>
    public static ConversationTemplate Get(string name)
    {
        foreach (var template in All)
            if (template.Name == name) return template;
        throw new ArgumentException($"conversation template '{name}' is not supported (supported: {string.Join(", ", All.Select(t => t.Name))})", nameof(name));
    }

    /// <summary>
    /// The token generation stops at: <c>template.sep.strip()</c>, which <c>chat()</c> passes as <c>eos_token_id</c>
    /// and splits the response on.
    /// </summary>
    public string StopToken => PythonText.Strip(Separator);

    /// <summary>
    /// <c>get_prompt()</c> for the style MPT: the system prompt, then each (role, message); a null or empty message
    /// leaves the role open (the turn the model continues).
    /// </summary>
    public string Render(string systemMessage, IReadOnlyList<(string Role, string? Message)> messages)
    {
        var prompt = new System.Text.StringBuilder(SystemTemplate.Replace("{system_message}", systemMessage, StringComparison.Ordinal));
        prompt.Append(Separator);
        foreach (var (role, message) in messages)
        {
            prompt.Append(role);
            if (!string.IsNullOrEmpty(message)) prompt.Append(message).Append(Separator);
        }
        return prompt.ToString();
    }
}
