using System.Buffers;
using System.Text;
using InternVit.SK.Text;
using Microsoft.ML.Tokenizers;

namespace InternVit.SK.Tests.Text;

/// <summary>
/// Every case of goldens/tokenizer_cases.json (HF tokenizers 0.23.2), from both tokenizer forms, through the fast
/// paths and through Microsoft.ML.Tokenizers' <see cref="Tokenizer"/> API.
/// </summary>
public class Qwen2TokenizerGoldenTests
{
    public static TheoryData<string, string> FormsAndCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var form in TokenizerFixtures.GoldenForms)
            foreach (var id in TokenizerFixtures.CasesOf(form).Keys)
                data.Add(form, id);
        return data;
    }

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var id in TokenizerFixtures.GoldenCases.Keys) data.Add(id);
        return data;
    }

    [Theory]
    [MemberData(nameof(FormsAndCases))]
    public void Encode_gives_the_reference_ids_and_tokens(string form, string caseId)
    {
        var tokenizer = TokenizerFixtures.Form(form);
        var golden = TokenizerFixtures.Case(form, caseId);
        int[] ids = tokenizer.Encode(golden.Text);
        Assert.Equal(golden.Ids, ids);
        Assert.Equal(golden.Tokens, ids.Select(id => tokenizer.IdToToken(id)).ToArray());
    }

    [Theory]
    [MemberData(nameof(FormsAndCases))]
    public void Decode_gives_the_reference_text(string form, string caseId)
    {
        var tokenizer = TokenizerFixtures.Form(form);
        var golden = TokenizerFixtures.Case(form, caseId);
        Assert.Equal(golden.Decoded, tokenizer.Decode(golden.Ids));
        Assert.Equal(golden.DecodedSkipSpecial, tokenizer.Decode(golden.Ids, skipSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(FormsAndCases))]
    public void Streaming_detokenizer_emits_the_decoded_text_piece_by_piece(string form, string caseId)
    {
        var tokenizer = TokenizerFixtures.Form(form);
        var golden = TokenizerFixtures.Case(form, caseId);
        foreach (bool skip in new[] { false, true })
        {
            string expected = skip ? golden.DecodedSkipSpecial : golden.Decoded;
            var stream = tokenizer.CreateStreamingDetokenizer(skip);
            var text = new StringBuilder();
            foreach (int id in golden.Ids)
            {
                string piece = stream.Append(id);
                // Never half a character: with valid text, no piece carries a replacement character.
                if (!expected.Contains('\uFFFD')) Assert.DoesNotContain('\uFFFD', piece);
                text.Append(piece);
            }
            text.Append(stream.Flush());
            Assert.Equal(expected, text.ToString());
        }
    }

    [Theory]
    [MemberData(nameof(FormsAndCases))]
    public void Utf8_input_gives_the_same_ids(string form, string caseId)
    {
        var golden = TokenizerFixtures.Case(form, caseId);
        Assert.Equal(golden.Ids, TokenizerFixtures.Form(form).EncodeUtf8(Encoding.UTF8.GetBytes(golden.Text)));
    }

    [Theory]
    [MemberData(nameof(FormsAndCases))]
    public void Tokenizer_api_gives_the_reference_ids_tokens_offsets_and_count(string form, string caseId)
    {
        Tokenizer tokenizer = TokenizerFixtures.Form(form);
        var golden = TokenizerFixtures.Case(form, caseId);
        Assert.Equal(golden.Ids, tokenizer.EncodeToIds(golden.Text));
        Assert.Equal(golden.Ids, tokenizer.EncodeToIds(golden.Text.AsSpan()));
        Assert.Equal(golden.Ids.Length, tokenizer.CountTokens(golden.Text));
        Assert.Equal(golden.Ids.Length, tokenizer.CountTokens(golden.Text.AsSpan()));

        var tokens = tokenizer.EncodeToTokens(golden.Text, out string? normalized);
        Assert.Equal(golden.Ids, tokens.Select(t => t.Id));
        Assert.Equal(golden.Tokens, tokens.Select(t => t.Value));
        // NFC changes three cases (NFD input, the Angstrom and Ohm signs); their decoded text is the NFC form.
        Assert.Equal(golden.Decoded == golden.Text ? null : golden.Decoded, normalized);
        AssertOffsets(normalized ?? golden.Text, tokens);
        Assert.Equal(golden.Tokens, tokenizer.EncodeToTokens(golden.Text.AsSpan(), out string? fromSpan).Select(t => t.Value));
        Assert.Equal(normalized, fromSpan);
    }

    [Theory]
    [MemberData(nameof(FormsAndCases))]
    public void Tokenizer_api_decodes_to_the_reference_text(string form, string caseId)
    {
        Tokenizer tokenizer = TokenizerFixtures.Form(form);
        var golden = TokenizerFixtures.Case(form, caseId);
        Assert.Equal(golden.Decoded, tokenizer.Decode((IEnumerable<int>)golden.Ids));
        Assert.Equal(golden.Decoded, tokenizer.Decode(golden.Ids.ToList()));
        Assert.Equal(golden.Decoded, tokenizer.Decode(golden.Ids.Select(id => id))); // a lazy sequence, read once
        Assert.Equal(golden.Decoded, tokenizer.Decode(tokenizer.EncodeToIds(golden.Text)));

        var exact = new char[golden.Decoded.Length];
        Assert.Equal(OperationStatus.Done, tokenizer.Decode(golden.Ids, exact, out int idsConsumed, out int charsWritten));
        Assert.Equal(golden.Ids.Length, idsConsumed);
        Assert.Equal(golden.Decoded.Length, charsWritten);
        Assert.Equal(golden.Decoded, new string(exact));

        if (golden.Decoded.Length == 0) return;
        // Too small: what is written is the start of the text, and the ids not consumed decode to the rest.
        var half = new char[golden.Decoded.Length / 2];
        Assert.Equal(OperationStatus.DestinationTooSmall, tokenizer.Decode(golden.Ids, half, out idsConsumed, out charsWritten));
        Assert.True(charsWritten <= half.Length);
        Assert.Equal(golden.Decoded[..charsWritten], new string(half, 0, charsWritten));
        Assert.Equal(golden.Decoded[charsWritten..], tokenizer.Decode(golden.Ids.Skip(idsConsumed)));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Token_budgets_take_whole_pieces_that_encode_on_their_own_to_the_ids_counted(string caseId)
    {
        Tokenizer tokenizer = TokenizerFixtures.Fast;
        var golden = TokenizerFixtures.GoldenCases[caseId];
        int n = golden.Ids.Length;
        int previousHead = 0, previousTail = 0;
        foreach (int budget in Budgets(n))
        {
            var ids = tokenizer.EncodeToIds(golden.Text, budget, out string? normalized, out int consumed);
            string text = normalized ?? golden.Text;
            Assert.Equal(golden.Decoded == golden.Text ? null : golden.Decoded, normalized);
            Assert.InRange(ids.Count, previousHead, budget);
            Assert.Equal(golden.Ids[..ids.Count], ids);
            // Whole pieces: the text before the cut encodes to these ids, the text after it to the rest.
            Assert.Equal(ids, Encode(text[..consumed]));
            Assert.Equal(golden.Ids[ids.Count..], Encode(text[consumed..]));
            Assert.Equal(consumed, tokenizer.GetIndexByTokenCount(golden.Text, budget, out string? again, out int count));
            Assert.Equal(normalized, again);
            Assert.Equal(ids.Count, count);

            int index = tokenizer.GetIndexByTokenCountFromEnd(golden.Text, budget, out again, out int tail);
            Assert.Equal(normalized, again);
            Assert.InRange(tail, previousTail, budget);
            Assert.Equal(golden.Ids[(n - tail)..], Encode(text[index..]));
            Assert.Equal(golden.Ids[..(n - tail)], Encode(text[..index]));

            if (budget >= n)
            {
                Assert.Equal((n, text.Length), (ids.Count, consumed));
                Assert.Equal((n, 0), (tail, index));
            }
            previousHead = ids.Count;
            previousTail = tail;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Chunks_cut_by_token_count_encode_to_the_ids_of_the_whole(string caseId)
    {
        const int budget = 24;
        Tokenizer tokenizer = TokenizerFixtures.Fast;
        var golden = TokenizerFixtures.GoldenCases[caseId];
        tokenizer.GetIndexByTokenCount(golden.Text, budget, out string? normalized, out _);
        string text = normalized ?? golden.Text;
        var ids = new List<int>();
        for (int at = 0; at < text.Length;)
        {
            string rest = text[at..];
            int cut = tokenizer.GetIndexByTokenCount(rest, budget, out string? again, out int count);
            Assert.Null(again); // already NFC
            Assert.True(cut > 0, $"no piece fits at {at}");
            Assert.InRange(count, 1, budget);
            var chunk = tokenizer.EncodeToIds(rest[..cut]);
            Assert.Equal(count, chunk.Count);
            ids.AddRange(chunk);
            at += cut;
        }
        Assert.Equal(golden.Ids, ids);
    }

    /// <summary>
    /// Offsets cover the text in order without gaps. Tokens that hold parts of one character (byte-level BPE splits some
    /// emoji and CJK) overlap on exactly that character; each run of tokens joined that way is exactly the UTF-8 of its range.
    /// </summary>
    internal static void AssertOffsets(string text, IReadOnlyList<EncodedToken> tokens)
    {
        int covered = 0;
        for (int i = 0; i < tokens.Count;)
        {
            int start = tokens[i].Offset.Start.Value, end = tokens[i].Offset.End.Value;
            Assert.Equal(covered, start);
            var bytes = new List<byte>(ByteLevel.TokenBytes(tokens[i].Value));
            int j = i + 1;
            for (; j < tokens.Count && tokens[j].Offset.Start.Value < end; j++)
            {
                int shared = tokens[j].Offset.Start.Value;
                Assert.Equal(OperationStatus.Done, Rune.DecodeFromUtf16(text.AsSpan(shared, end - shared), out _, out int used));
                Assert.Equal(end - shared, used); // one character
                Assert.True(tokens[j].Offset.End.Value >= end);
                bytes.AddRange(ByteLevel.TokenBytes(tokens[j].Value));
                end = tokens[j].Offset.End.Value;
            }
            Assert.Equal(Encoding.UTF8.GetBytes(text[start..end]), bytes);
            covered = end;
            i = j;
        }
        Assert.Equal(text.Length, covered);
    }

    private static int[] Encode(string text) => TokenizerFixtures.Fast.Encode(text);

    /// <summary>Every budget up to 40, then a few around half and all of the ids.</summary>
    private static IEnumerable<int> Budgets(int n) =>
        Enumerable.Range(1, Math.Min(n + 1, 40)).Concat([n / 2, n - 1, n, n + 1]).Where(b => b > 0).Distinct().Order();

    [Fact]
    public void All_61_cases_are_covered()
    {
        Assert.Equal(61, TokenizerFixtures.GoldenCases.Count);
        Assert.Equal(61, TokenizerFixtures.CasesOf("internvl3_5 slow files").Count);
    }

    /// <summary>
    /// InternVL3.5's tokenizer: Qwen3's added tokens up to <c>&lt;/think&gt;</c> 151668, InternVL's from 151669, 151678
    /// ids in all; <c>&lt;think&gt;</c>, <c>&lt;/think&gt;</c> and the tool tokens are added but not special, so
    /// skip_special_tokens keeps them; both forms agree.
    /// </summary>
    [Theory]
    [InlineData("internvl3_5 tokenizer.json")]
    [InlineData("internvl3_5 slow files")]
    public void The_internvl3_5_tokenizer_has_qwen3s_added_tokens_then_internvls(string form)
    {
        var tokenizer = TokenizerFixtures.Form(form);
        Assert.Equal(151678, tokenizer.VocabularySize);
        (string Token, int Id, bool Special)[] expected =
        [
            ("<|endoftext|>", 151643, true), ("<|im_end|>", 151645, true), ("<tool_response>", 151665, false), ("</tool_response>", 151666, false),
            ("<think>", 151667, false), ("</think>", 151668, false), ("<img>", 151669, true), ("</img>", 151670, true), ("<IMG_CONTEXT>", 151671, true),
            ("<box>", 151676, true), ("</box>", 151677, true),
        ];
        foreach (var (token, id, special) in expected)
        {
            Assert.Equal(id, tokenizer.TokenToId(token));
            Assert.Equal(special, tokenizer.IsSpecialToken(id));
        }
        Assert.Equal("<think>\nOK.\n</think>\n\nHi!", tokenizer.Decode(tokenizer.Encode("<img><think>\nOK.\n</think>\n\nHi!</img>"), skipSpecialTokens: true));
    }

    /// <summary>
    /// Qwen3's embedding table is padded to 151936 rows, so a sampler can pick an id past the tokenizer's 151678: decoding
    /// skips it (as HF does for unknown ids) instead of failing, whole or streamed.
    /// </summary>
    [Fact]
    public void Ids_past_the_tokenizer_in_the_padded_vocabulary_decode_to_nothing()
    {
        var tokenizer = TokenizerFixtures.Internvl35Slow;
        int[] ids = [.. tokenizer.Encode("Hi"), 151678, 151935, .. tokenizer.Encode("!")];
        Assert.Null(tokenizer.IdToToken(151900));
        Assert.Equal("Hi!", tokenizer.Decode(ids));
        var stream = tokenizer.CreateStreamingDetokenizer();
        var text = new StringBuilder();
        foreach (int id in ids) text.Append(stream.Append(id));
        text.Append(stream.Flush());
        Assert.Equal("Hi!", text.ToString());
    }
}
