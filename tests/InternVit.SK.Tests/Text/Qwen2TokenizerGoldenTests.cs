using System.Text;

namespace InternVit.SK.Tests.Text;

/// <summary>Every case of goldens/tokenizer_cases.json (HF tokenizers 0.23.2), from both tokenizer forms.</summary>
public class Qwen2TokenizerGoldenTests
{
    public static TheoryData<string, string> FormsAndCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var form in TokenizerFixtures.Forms)
            foreach (var id in TokenizerFixtures.GoldenCases.Keys)
                data.Add(form, id);
        return data;
    }

    [Theory]
    [MemberData(nameof(FormsAndCases))]
    public void Encode_gives_the_reference_ids_and_tokens(string form, string caseId)
    {
        var tokenizer = TokenizerFixtures.Form(form);
        var golden = TokenizerFixtures.GoldenCases[caseId];
        int[] ids = tokenizer.Encode(golden.Text);
        Assert.Equal(golden.Ids, ids);
        Assert.Equal(golden.Tokens, ids.Select(id => tokenizer.IdToToken(id)).ToArray());
    }

    [Theory]
    [MemberData(nameof(FormsAndCases))]
    public void Decode_gives_the_reference_text(string form, string caseId)
    {
        var tokenizer = TokenizerFixtures.Form(form);
        var golden = TokenizerFixtures.GoldenCases[caseId];
        Assert.Equal(golden.Decoded, tokenizer.Decode(golden.Ids));
        Assert.Equal(golden.DecodedSkipSpecial, tokenizer.Decode(golden.Ids, skipSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(FormsAndCases))]
    public void Streaming_detokenizer_emits_the_decoded_text_piece_by_piece(string form, string caseId)
    {
        var tokenizer = TokenizerFixtures.Form(form);
        var golden = TokenizerFixtures.GoldenCases[caseId];
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
        var golden = TokenizerFixtures.GoldenCases[caseId];
        Assert.Equal(golden.Ids, TokenizerFixtures.Form(form).EncodeUtf8(Encoding.UTF8.GetBytes(golden.Text)));
    }

    [Fact]
    public void All_61_cases_are_covered()
    {
        Assert.Equal(61, TokenizerFixtures.GoldenCases.Count);
    }
}
