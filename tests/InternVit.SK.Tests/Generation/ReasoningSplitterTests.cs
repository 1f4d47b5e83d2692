using InternVit.SK.Generation;
using InternVit.SK.Tests.Text;
using InternVit.SK.Text;

namespace InternVit.SK.Tests.Generation;

/// <summary>
/// The split of a thinking-mode answer into reasoning and answer, on the token streams the real tokenizers give: the
/// InternVL3.5 tokenizer emits <c>&lt;think&gt;</c>/<c>&lt;/think&gt;</c> as single added tokens (151667/151668), the
/// InternVL2.5 one as several BPE pieces. The streamed pieces are decoded one token at a time, as generation decodes them.
/// </summary>
public sealed class ReasoningSplitterTests
{
    public static TheoryData<string> Tokenizers => new() { "internvl3_5", "internvl2_5" };

    private static Qwen2Tokenizer Tokenizer(string name) => name == "internvl3_5" ? TokenizerFixtures.Internvl35Fast : TokenizerFixtures.Fast;

    /// <summary>The text pieces generation would emit for <paramref name="text"/>: its ids decoded one by one (special tokens skipped).</summary>
    private static List<string> Pieces(Qwen2Tokenizer tokenizer, string text, out int[] ids)
    {
        ids = tokenizer.Encode(text);
        var detokenizer = tokenizer.CreateStreamingDetokenizer(skipSpecialTokens: true);
        var pieces = new List<string>();
        foreach (int id in ids) pieces.Add(detokenizer.Append(id));
        pieces.Add(detokenizer.Flush());
        return pieces;
    }

    /// <summary>Streams the pieces through a splitter; checks every reasoning piece precedes every answer piece.</summary>
    private static (string? Reasoning, string Answer) Stream(IEnumerable<string> pieces)
    {
        var splitter = new ReasoningSplitter();
        var reasoning = new System.Text.StringBuilder();
        var answer = new System.Text.StringBuilder();
        foreach (string piece in pieces)
        {
            var (r, a) = splitter.Push(piece);
            if (r.Length > 0) Assert.True(answer.Length == 0, $"reasoning '{r}' after answer text '{answer}'");
            reasoning.Append(r);
            answer.Append(a);
        }
        var (rest, tail) = splitter.Flush();
        if (rest.Length > 0) Assert.True(answer.Length == 0, "held reasoning after answer text");
        reasoning.Append(rest);
        answer.Append(tail);
        return (splitter.HasReasoning ? reasoning.ToString() : null, answer.ToString());
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void A_think_block_streamed_token_by_token_comes_apart_from_the_answer(string name)
    {
        var tokenizer = Tokenizer(name);
        const string output = "<think>\nThe user greets me in two languages. I should answer in both.\n</think>\n\nHello! 你好！";
        var pieces = Pieces(tokenizer, output, out int[] ids);

        // The two tokenizers really give the two kinds of stream: single tag tokens, or tags in several pieces.
        bool single = ids.Contains(151667) && ids.Contains(151668);
        Assert.Equal(name == "internvl3_5", single);
        if (!single) Assert.Contains(pieces, p => p.Length > 0 && "<think>".StartsWith(p, StringComparison.Ordinal) && p != "<think>");

        var (reasoning, answer) = Stream(pieces);
        Assert.Equal("\nThe user greets me in two languages. I should answer in both.\n", reasoning);
        Assert.Equal("Hello! 你好！", answer);
        Assert.Equal((reasoning, answer), ReasoningSplitter.Split(output));
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void An_answer_without_a_think_block_is_unchanged(string name)
    {
        foreach (string output in (string[])["Hello there.", "  \n Leading whitespace stays.", "<thinking> is not a think tag", "Text <think>inside</think> is the answer", "<", "<thi", " \n"])
        {
            var (reasoning, answer) = Stream(Pieces(Tokenizer(name), output, out _));
            Assert.Null(reasoning);
            Assert.Equal(output, answer);
            Assert.Equal((null, output), ReasoningSplitter.Split(output));
        }
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void A_block_cut_off_by_the_token_limit_is_all_reasoning(string name)
    {
        // The stream ends inside the block, even in the middle of "</think>".
        foreach (string output in (string[])["<think>\nLet me count the rows: one, two", "\n<think>Almost done.\n</thi", "<think>"])
        {
            var (reasoning, answer) = Stream(Pieces(Tokenizer(name), output, out _));
            string expected = output[(output.IndexOf("<think>", StringComparison.Ordinal) + 7)..];
            Assert.Equal(expected, reasoning);
            Assert.Equal("", answer);
        }
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void Whitespace_after_the_block_is_not_part_of_the_answer(string name)
    {
        foreach (string separator in (string[])["", "\n", "\n\n", " \n \t\n"])
        {
            string output = "  <think>Short.</think>" + separator + "The answer.\nSecond line.";
            var (reasoning, answer) = Stream(Pieces(Tokenizer(name), output, out _));
            Assert.Equal("Short.", reasoning);
            Assert.Equal("The answer.\nSecond line.", answer);
        }
        // A block and nothing after it: an empty answer.
        Assert.Equal(("x", ""), Stream(Pieces(Tokenizer(name), "<think>x</think>\n\n", out _)));
    }

    /// <summary>The split does not depend on where the pieces end: every cut of a text into three pieces gives the whole text's split.</summary>
    [Fact]
    public void Any_cut_into_pieces_gives_the_split_of_the_whole()
    {
        foreach (string output in (string[])["\n<think>\na < b </think\n</think>\n\nYes.", "<think></think>x", " <thin", "<think>a</think> \n"])
        {
            var whole = ReasoningSplitter.Split(output);
            for (int i = 0; i <= output.Length; i++)
                for (int j = i; j <= output.Length; j++)
                    Assert.Equal(whole, Stream([output[..i], output[i..j], output[j..]]));
        }
        Assert.Equal(("\na < b </think\n", "Yes."), ReasoningSplitter.Split("\n<think>\na < b </think\n</think>\n\nYes."));
    }

    [Fact]
    public void The_history_keeps_the_block_in_one_normal_form_that_is_what_chat_keeps_for_a_canonical_output()
    {
        // chat() keeps the decoded response stripped; for the usual shape of an answer that is exactly the normal form.
        const string output = "<think>\nLet me look at the table.\n</think>\n\nIt has three rows.\n";
        var (reasoning, answer) = ReasoningSplitter.Split(output);
        Assert.Equal(output.Trim(), ThinkingMode.HistoryAnswer(reasoning, answer));

        // Other whitespace after </think> becomes one blank line; a cut-off block is closed; no reasoning: the answer stripped.
        Assert.Equal("<think>a</think>\n\nb", ThinkingMode.HistoryAnswer("a", "b"));
        Assert.Equal("<think>\nstill going</think>", ThinkingMode.HistoryAnswer("\nstill going", ""));
        Assert.Equal("plain", ThinkingMode.HistoryAnswer(null, "  plain \n"));
    }

    [Fact]
    public void The_thinking_system_message_puts_the_published_prompt_first()
    {
        Assert.StartsWith("You are an AI assistant that rigorously follows this response protocol:\n\n1. First,", ThinkingMode.SystemPrompt);
        Assert.EndsWith("The final answer should be standalone and not reference the thinking section.", ThinkingMode.SystemPrompt);
        Assert.Equal(ThinkingMode.SystemPrompt, ThinkingMode.SystemMessage(null));
        Assert.Equal(ThinkingMode.SystemPrompt, ThinkingMode.SystemMessage(""));
        Assert.Equal(ThinkingMode.SystemPrompt + "\nBe brief.", ThinkingMode.SystemMessage("Be brief."));
    }
}
