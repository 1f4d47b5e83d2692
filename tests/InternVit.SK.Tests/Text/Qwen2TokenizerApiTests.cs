using System.Buffers;
using InternVit.SK.Text;
using Microsoft.ML.Tokenizers;

namespace InternVit.SK.Tests.Text;

/// <summary>
/// The tokenizer as a Microsoft.ML.Tokenizers <see cref="Tokenizer"/>: offsets, token budgets, settings, pipeline
/// stages and decoding into a buffer, on inputs whose tokens are written out here (checked with <c>internvl inspect tokens</c>).
/// </summary>
public class Qwen2TokenizerApiTests
{
    private static Tokenizer Tokenizer => TokenizerFixtures.Fast;

    // "Hello" | " tokenization" | "<|im_end|>" | "!": pieces of 1, 2, 1 and 1 tokens, at 0, 5, 18 and 28 (29 chars).
    private const string Pieces = "Hello tokenization<|im_end|>!";
    private static readonly int[] PiecesIds = [9707, 3950, 2022, 151645, 0];

    [Fact]
    public void Offsets_are_character_ranges_of_the_input()
    {
        var tokens = Tokenizer.EncodeToTokens(Pieces, out string? normalized);
        Assert.Null(normalized);
        Assert.Equal(PiecesIds, tokens.Select(t => t.Id));
        Assert.Equal(["Hello", "Ġtoken", "ization", "<|im_end|>", "!"], tokens.Select(t => t.Value));
        Assert.Equal([(0, 5), (5, 11), (11, 18), (18, 28), (28, 29)], tokens.Select(Range));
    }

    [Fact]
    public void Tokens_that_split_a_character_share_its_range()
    {
        // "I ❤️ 🍕": ❤ comes with its space, U+FE0F is one token; 🍕 (F0 9F 8D 95, chars 5-6) is cut in three.
        var tokens = Tokenizer.EncodeToTokens("I ❤️ 🍕", out _);
        Assert.Equal([40, 70470, 30543, 11162, 235, 243], tokens.Select(t => t.Id));
        Assert.Equal(["I", "ĠâĿ¤", "ï¸ı", "ĠðŁ", "į", "ķ"], tokens.Select(t => t.Value));
        Assert.Equal([(0, 1), (1, 3), (3, 4), (4, 7), (5, 7), (5, 7)], tokens.Select(Range));

        // U+20000 (two UTF-16 units) in three byte-level tokens, then " ok".
        tokens = Tokenizer.EncodeToTokens("\U00020000 ok", out _);
        Assert.Equal([172, 63219, 222, 5394], tokens.Select(t => t.Id));
        Assert.Equal([(0, 2), (0, 2), (0, 2), (2, 5)], tokens.Select(Range));
    }

    [Fact]
    public void Normalized_text_is_returned_when_nfc_changes_the_input_and_offsets_point_into_it()
    {
        string nfd = "cafe\u0301<|im_end|>e\u0301 ok";
        var tokens = Tokenizer.EncodeToTokens(nfd, out string? normalized);
        Assert.Equal("caf\u00E9<|im_end|>\u00E9 ok", normalized);
        Assert.Equal([924, 58858, 151645, 963, 5394], tokens.Select(t => t.Id));
        Assert.Equal([(0, 2), (2, 4), (4, 14), (14, 15), (15, 18)], tokens.Select(Range));
        Assert.Equal("<|im_end|>", normalized![4..14]);

        var ids = Tokenizer.EncodeToIds(nfd, 3, out string? again, out int consumed);
        Assert.Equal(normalized, again);
        Assert.Equal([924, 58858, 151645], ids);
        Assert.Equal(14, consumed); // in the normalized text
    }

    [Fact]
    public void Without_normalization_the_nfd_input_is_encoded_as_it_is()
    {
        string nfd = "cafe\u0301";
        var ids = Tokenizer.EncodeToIds(nfd, considerNormalization: false);
        Assert.NotEqual(Tokenizer.EncodeToIds(nfd), ids);
        Assert.Equal(nfd, Tokenizer.Decode(ids)); // byte-level BPE loses nothing
        var tokens = Tokenizer.EncodeToTokens(nfd, out string? normalized, considerNormalization: false);
        Assert.Null(normalized);
        Assert.Equal(ids, tokens.Select(t => t.Id));
        Qwen2TokenizerGoldenTests.AssertOffsets(nfd, tokens);
    }

    [Fact]
    public void Without_pre_tokenization_the_text_between_added_tokens_is_one_word()
    {
        // The same tokens, but "Hello tokenization" is now one piece of three tokens.
        Assert.Equal(PiecesIds, Tokenizer.EncodeToIds(Pieces, considerPreTokenization: false));
        Assert.Equal(0, Tokenizer.GetIndexByTokenCount(Pieces, 2, out _, out int count, considerPreTokenization: false));
        Assert.Equal(0, count);
        Assert.Equal(18, Tokenizer.GetIndexByTokenCount(Pieces, 3, out _, out count, considerPreTokenization: false));
        Assert.Equal(3, count);
    }

    [Theory]
    [InlineData(1, 1, 5)]
    [InlineData(2, 1, 5)] // " tokenization" is two tokens: not half of it
    [InlineData(3, 3, 18)]
    [InlineData(4, 4, 28)]
    [InlineData(5, 5, 29)]
    [InlineData(100, 5, 29)]
    public void A_budget_from_the_start_takes_whole_pieces(int budget, int expectedCount, int expectedIndex)
    {
        var ids = Tokenizer.EncodeToIds(Pieces, budget, out string? normalized, out int consumed);
        Assert.Null(normalized);
        Assert.Equal(PiecesIds[..expectedCount], ids);
        Assert.Equal(expectedIndex, consumed);
        Assert.Equal(expectedIndex, Tokenizer.GetIndexByTokenCount(Pieces, budget, out _, out int count));
        Assert.Equal(expectedCount, count);
        Assert.Equal(expectedIndex, Tokenizer.GetIndexByTokenCount(Pieces.AsSpan(), budget, out _, out count));
        Assert.Equal(expectedCount, count);
    }

    [Theory]
    [InlineData(1, 1, 28)]
    [InlineData(2, 2, 18)]
    [InlineData(3, 2, 18)] // " tokenization" would make four
    [InlineData(4, 4, 5)]
    [InlineData(5, 5, 0)]
    [InlineData(100, 5, 0)]
    public void A_budget_from_the_end_takes_whole_pieces(int budget, int expectedCount, int expectedIndex)
    {
        Assert.Equal(expectedIndex, Tokenizer.GetIndexByTokenCountFromEnd(Pieces, budget, out string? normalized, out int count));
        Assert.Null(normalized);
        Assert.Equal(expectedCount, count);
        Assert.Equal(expectedIndex, Tokenizer.GetIndexByTokenCountFromEnd(Pieces.AsSpan(), budget, out _, out count));
        Assert.Equal(expectedCount, count);
    }

    [Fact]
    public void A_pre_token_longer_than_the_budget_is_not_split()
    {
        const string word = "Pneumonoultramicroscopicsilicovolcanoconiosis"; // 17 tokens, one pre-token
        Assert.Equal(17, Tokenizer.CountTokens(word));
        Assert.Empty(Tokenizer.EncodeToIds(word, 16, out _, out int consumed));
        Assert.Equal(0, consumed);
        Assert.Equal(0, Tokenizer.GetIndexByTokenCount(word, 16, out _, out int count));
        Assert.Equal(0, count);
        Assert.Equal(word.Length, Tokenizer.GetIndexByTokenCountFromEnd(word, 16, out _, out count));
        Assert.Equal(0, count);
        Assert.Equal(17, Tokenizer.EncodeToIds(word, 17, out _, out consumed).Count);
        Assert.Equal(word.Length, consumed);
    }

    [Fact]
    public void A_space_left_over_from_a_run_goes_with_the_pre_token_after_it()
    {
        // "x  2" is x, " ", " ", "2": before a digit the regex leaves the run's last space a pre-token of its own. Cut
        // after that space, the text would end in the run, one pre-token ("  ", 256): that space and "2" are one piece.
        Assert.Equal([87, 220, 220, 17], Tokenizer.EncodeToIds("x  2"));
        Assert.Equal([87, 256], Tokenizer.EncodeToIds("x  "));
        Assert.Equal([87, 220], Tokenizer.EncodeToIds("x  2", 3, out _, out int cut));
        Assert.Equal(2, cut);
        foreach (var (budget, index, count) in new[] { (1, 4, 0), (2, 2, 2), (3, 1, 3), (4, 0, 4) })
        {
            Assert.Equal(index, Tokenizer.GetIndexByTokenCountFromEnd("x  2", budget, out _, out int tail));
            Assert.Equal(count, tail);
        }
    }

    [Fact]
    public void Lone_surrogates_are_read_as_replacement_characters_with_offsets_kept()
    {
        var tokens = Tokenizer.EncodeToTokens("a\uD800b", out string? normalized);
        Assert.Null(normalized); // one char for one char: offsets still point into the input
        Assert.Equal([64, 5691, 65], tokens.Select(t => t.Id));
        Assert.Equal([(0, 1), (1, 2), (2, 3)], tokens.Select(Range));
        Assert.Equal(3, Tokenizer.CountTokens("a\uD800b"));
    }

    [Fact]
    public void Empty_text_has_no_tokens()
    {
        Assert.Empty(Tokenizer.EncodeToIds(""));
        Assert.Empty(Tokenizer.EncodeToTokens("", out string? normalized));
        Assert.Null(normalized);
        Assert.Equal(0, Tokenizer.CountTokens(""));
        Assert.Equal(0, Tokenizer.GetIndexByTokenCount("", 5, out _, out int count));
        Assert.Equal(0, Tokenizer.GetIndexByTokenCountFromEnd("", 5, out _, out count));
        Assert.Equal(0, count);
        Assert.Equal("", Tokenizer.Decode(Array.Empty<int>()));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void A_budget_must_be_positive(int budget)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.EncodeToIds(Pieces, budget, out _, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.GetIndexByTokenCount(Pieces, budget, out _, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.GetIndexByTokenCountFromEnd(Pieces, budget, out _, out _));
    }

    [Fact]
    public void The_pre_tokenizer_is_the_qwen2_split()
    {
        var splits = Tokenizer.PreTokenizer!.PreTokenize("Hello world, it's 2024!");
        string[] expected = ["Hello", " world", ",", " it", "'s", " ", "2", "0", "2", "4", "!"];
        Assert.Equal(expected, splits.Select(s => "Hello world, it's 2024!".Substring(s.Offset, s.Length)));
        Assert.Equal(splits, Tokenizer.PreTokenizer.PreTokenize("Hello world, it's 2024!".AsSpan()));
    }

    [Fact]
    public void The_normalizer_is_nfc()
    {
        Assert.Equal("caf\u00E9 \u00C5", Tokenizer.Normalizer!.Normalize("cafe\u0301 \u212B"));
        Assert.Equal("caf\u00E9 \u00C5", Tokenizer.Normalizer.Normalize("cafe\u0301 \u212B".AsSpan()));
        Assert.Same(Pieces, Tokenizer.Normalizer.Normalize(Pieces));
    }

    [Fact]
    public void Decoding_into_a_buffer_stops_between_whole_characters()
    {
        // "a", the four bytes of 😀 as four tokens, "b".
        var byteToken = (Qwen2Tokenizer)Tokenizer;
        int[] ids = [64, .. "😀"u8.ToArray().Select(b => byteToken.TokenToId(ByteLevel.ByteToChar[b].ToString())!.Value), 65];
        foreach (var (size, status, consumed, written, text) in new[]
        {
            (0, OperationStatus.DestinationTooSmall, 0, 0, ""),
            (1, OperationStatus.DestinationTooSmall, 1, 1, "a"),
            (2, OperationStatus.DestinationTooSmall, 1, 1, "a"), // 😀 is two chars
            (3, OperationStatus.DestinationTooSmall, 5, 3, "a😀"),
            (4, OperationStatus.Done, 6, 4, "a😀b"),
        })
        {
            var buffer = new char[size];
            Assert.Equal(status, Tokenizer.Decode(ids, buffer, out int idsConsumed, out int charsWritten));
            Assert.Equal((consumed, written), (idsConsumed, charsWritten));
            Assert.Equal(text, new string(buffer, 0, charsWritten));
        }

        // Bytes that never complete a character end the text as one U+FFFD; unknown ids are skipped.
        var rest = new char[4];
        Assert.Equal(OperationStatus.Done, Tokenizer.Decode([64, ids[1], ids[2], 999_999], rest, out int n, out int chars));
        Assert.Equal((4, 2), (n, chars));
        Assert.Equal("a\uFFFD", new string(rest, 0, chars));
        Assert.Equal("a\uFFFD", Tokenizer.Decode(new List<int> { 64, ids[1], ids[2], 999_999 }));
    }

    [Fact]
    public void Every_cut_re_encodes_exactly_on_random_text()
    {
        // Seeded random strings over the characters whose regex cases interact: runs of mixed white space and line
        // breaks before letters, digits and punctuation, contractions, NFD marks, split emoji, added tokens.
        string[] alphabet =
        [
            " ", " ", "  ", "\t", "\n", "\r\n", "\u00A0", "\u3000", "a", "Word", "s", "'", "'s", "'LL", "1", "23", "!", "?!", ".", "#", "(",
            "e\u0301", "\u0301", "\u00E9", "\u212B", "你好", "😀", "👩🏽\u200D💻", "\U00020000", "<|im_end|>", "<img>", "<tool_call>", "<|im_start",
        ];
        var random = new Random(20240613);
        for (int sample = 0; sample < 400; sample++)
        {
            var builder = new System.Text.StringBuilder();
            for (int i = random.Next(1, 16); i > 0; i--) builder.Append(alphabet[random.Next(alphabet.Length)]);
            string input = builder.ToString();
            int[] all = Tokenizer.EncodeToIds(input).ToArray();
            for (int budget = 1; budget <= all.Length; budget++)
            {
                var head = Tokenizer.EncodeToIds(input, budget, out string? normalized, out int cut);
                string text = normalized ?? input;
                Assert.Equal(all[..head.Count], head);
                Assert.Equal(head, Tokenizer.EncodeToIds(text[..cut]));
                Assert.Equal(all[head.Count..], Tokenizer.EncodeToIds(text[cut..]));
                int index = Tokenizer.GetIndexByTokenCountFromEnd(input, budget, out _, out int tail);
                Assert.InRange(tail, 0, budget);
                Assert.Equal(all[(all.Length - tail)..], Tokenizer.EncodeToIds(text[index..]));
                Assert.Equal(all[..(all.Length - tail)], Tokenizer.EncodeToIds(text[..index]));
            }
        }
    }

    private static (int, int) Range(EncodedToken token) => (token.Offset.Start.Value, token.Offset.End.Value);
}
