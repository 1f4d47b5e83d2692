using InternVit.SK.Text;

namespace InternVit.SK.Generation;

/// <summary>
/// InternVL3.5's thinking mode: a system prompt that asks the model to reason inside <c>&lt;think&gt;…&lt;/think&gt;</c>
/// before it answers (<see cref="GenerationOptions.Thinking"/>), and the rule by which an answer with such a block is
/// kept in a conversation's history (<see cref="HistoryAnswer"/>).
/// </summary>
public static class ThinkingMode
{
    /// <summary>
    /// The thinking system prompt, exactly as OpenGVLab publishes it: <c>R1_SYSTEM_PROMPT</c> (after <c>.strip()</c>) in
    /// internvl_chat/tools/reasoning_data_pipeline/utils/constants.py, OpenGVLab/InternVL commit 2410d1d, the text the
    /// InternVL3.5 model cards set as <c>model.system_message</c> for thinking mode.
    /// </summary>
    public const string SystemPrompt =
        "You are an AI assistant that rigorously follows this response protocol:\n" +
        "\n" +
        "1. First, conduct a detailed analysis of the question. Consider different angles, potential solutions, and reason through the problem step-by-step. Enclose this entire thinking process within <think> and </think> tags.\n" +
        "\n" +
        "2. After the thinking section, provide a clear, concise, and direct answer to the user's question. Separate the answer from the think section with a newline.\n" +
        "\n" +
        "Ensure that the thinking process is thorough but remains focused on the query. The final answer should be standalone and not reference the thinking section.";

    /// <summary>Opens the reasoning block.</summary>
    public const string ThinkStart = "<think>";

    /// <summary>Closes the reasoning block.</summary>
    public const string ThinkEnd = "</think>";

    /// <summary>
    /// The system message of a thinking turn: <see cref="SystemPrompt"/> alone, or, when the caller gives a system
    /// prompt too, <see cref="SystemPrompt"/> + <c>"\n"</c> + the caller's (the thinking protocol first, then the caller's
    /// instructions, joined by one new line as OpenGVLab's reasoning pipeline joins <c>R1_SYSTEM_PROMPT</c> and what follows).
    /// </summary>
    public static string SystemMessage(string? callerSystemPrompt) =>
        string.IsNullOrEmpty(callerSystemPrompt) ? SystemPrompt : SystemPrompt + "\n" + callerSystemPrompt;

    /// <summary>
    /// How an answer is kept in the history, the text the next turn's prompt holds for it. Like the official
    /// <c>chat()</c>, which appends the whole decoded response (<c>&lt;think&gt;</c> and <c>&lt;/think&gt;</c> are not
    /// special tokens, so decoding keeps them), the reasoning stays: with <paramref name="reasoning"/> (not null) it is
    /// <c>&lt;think&gt;{reasoning}&lt;/think&gt;\n\n{answer}</c>, stripped; without, the answer stripped. The one normal form
    /// (one blank line after <c>&lt;/think&gt;</c>, an unterminated block closed) lets a stateless client that sends back the
    /// reasoning and the answer it received rebuild exactly the prompt a <see cref="Conversation"/> builds.
    /// </summary>
    public static string HistoryAnswer(string? reasoning, string answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        return PythonText.Strip(reasoning is null ? answer : ThinkStart + reasoning + ThinkEnd + "\n\n" + answer);
    }
}

/// <summary>
/// Separates a streamed answer into its reasoning (the text inside a leading <c>&lt;think&gt;…&lt;/think&gt;</c>) and the
/// answer proper. It works on decoded text, not token ids: InternVL3.5's tokenizer emits the tags as single tokens, the
/// InternVL2.5 one as several BPE pieces, and either may arrive split across pieces. Rules:
/// <list type="bullet">
/// <item>a block counts only at the start of the output (after optional whitespace); text that starts otherwise is the
/// answer, byte for byte (so answers with no block are unchanged);</item>
/// <item>the reasoning is the text between the tags as generated; the whitespace after <c>&lt;/think&gt;</c> is dropped
/// and the rest is the answer;</item>
/// <item>a block never closed (the token limit) leaves everything after <c>&lt;think&gt;</c> as reasoning and an empty answer.</item>
/// </list>
/// Text that could still be the start of a tag is held back until the next piece settles it, so
/// the concatenated pieces always equal <see cref="Split"/> of the whole text. One instance per answer; not thread-safe.
/// </summary>
internal sealed class ReasoningSplitter
{
    private enum State { Start, Reasoning, AfterThink, Answer }

    private readonly System.Text.StringBuilder _held = new();
    private State _state;

    private bool _sawThink;

    /// <summary>Whether a <c>&lt;think&gt;</c> block opened the output (so far).</summary>
    public bool HasReasoning => _sawThink;

    /// <summary>Adds a piece of decoded text; returns the reasoning and the answer text that are settled now (either may be "").</summary>
    public (string Reasoning, string Answer) Push(string piece)
    {
        ArgumentNullException.ThrowIfNull(piece);
        if (piece.Length == 0) return ("", "");
        if (_state == State.Answer) return ("", piece);
        // Most reasoning pieces hold no tag start: they pass through without touching the buffer.
        if (_state == State.Reasoning && _held.Length == 0 && !piece.Contains('<')) return (piece, "");
        _held.Append(piece);
        string reasoning = "", answer = "";
        while (true)
        {
            switch (_state)
            {
                case State.Start:
                {
                    string text = _held.ToString();
                    int first = 0;
                    while (first < text.Length && PythonText.IsSpace(text[first])) first++;
                    var rest = text.AsSpan(first);
                    if (rest.StartsWith(ThinkingMode.ThinkStart, StringComparison.Ordinal))
                    {
                        _held.Remove(0, first + ThinkingMode.ThinkStart.Length);
                        _state = State.Reasoning;
                        _sawThink = true;
                        continue;
                    }
                    if (rest.Length == 0 || ThinkingMode.ThinkStart.AsSpan().StartsWith(rest, StringComparison.Ordinal))
                        return (reasoning, answer); // still undecided
                    _held.Clear();
                    _state = State.Answer;
                    return (reasoning, answer + text);
                }
                case State.Reasoning:
                {
                    string text = _held.ToString();
                    int end = text.IndexOf(ThinkingMode.ThinkEnd, StringComparison.Ordinal);
                    if (end >= 0)
                    {
                        reasoning += text[..end];
                        _held.Remove(0, end + ThinkingMode.ThinkEnd.Length);
                        _state = State.AfterThink;
                        continue;
                    }
                    int keep = HeldTail(text, ThinkingMode.ThinkEnd);
                    reasoning += text[..^keep];
                    _held.Remove(0, text.Length - keep);
                    return (reasoning, answer);
                }
                case State.AfterThink:
                {
                    string text = _held.ToString();
                    int first = 0;
                    while (first < text.Length && PythonText.IsSpace(text[first])) first++;
                    _held.Clear();
                    if (first == text.Length) return (reasoning, answer);
                    _state = State.Answer;
                    return (reasoning, answer + text[first..]);
                }
                default:
                    return (reasoning, answer);
            }
        }
    }

    /// <summary>Ends the output: what is still held (a possible tag start, or an unterminated block's tail) is released.</summary>
    public (string Reasoning, string Answer) Flush()
    {
        string held = _held.ToString();
        _held.Clear();
        var state = _state;
        _state = State.Answer;
        return state switch
        {
            State.Start => ("", held), // whitespace, or the start of a "<think>" that never completed: the answer
            State.Reasoning => (held, ""),
            _ => ("", ""),
        };
    }

    /// <summary>The reasoning (null without a block) and the answer of a whole output, by the same rules as the streamed split.</summary>
    public static (string? Reasoning, string Answer) Split(string output)
    {
        var splitter = new ReasoningSplitter();
        var (reasoning, answer) = splitter.Push(output);
        bool hasReasoning = splitter.HasReasoning;
        var (r, a) = splitter.Flush();
        return (hasReasoning ? reasoning + r : null, answer + a);
    }

    /// <summary>The length of the longest tail of <paramref name="text"/> that is a proper prefix of <paramref name="tag"/>.</summary>
    private static int HeldTail(string text, string tag)
    {
        for (int tail = Math.Min(text.Length, tag.Length - 1); tail > 0; tail--)
            if (tag.AsSpan().StartsWith(text.AsSpan(text.Length - tail), StringComparison.Ordinal)) return tail;
        return 0;
    }
}
