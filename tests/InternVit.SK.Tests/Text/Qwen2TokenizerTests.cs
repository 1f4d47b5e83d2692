using System.Text;
using System.Text.Json.Nodes;
using InternVit.SK.Text;

namespace InternVit.SK.Tests.Text;

/// <summary>Behaviour beyond the golden cases: UTF-16/UTF-8 edge input, lossy decoding, streaming, refused files.</summary>
public class Qwen2TokenizerTests
{
    private static Qwen2Tokenizer Tokenizer => TokenizerFixtures.Fast;

    [Fact]
    public void Lone_surrogates_are_read_as_replacement_characters()
    {
        // The reference binding turns a lone surrogate into U+FFFD: "a\uD800b" -> a, U+FFFD (bytes EF BF BD), b.
        Assert.Equal(Tokenizer.Encode("a\uFFFDb"), Tokenizer.Encode("a\uD800b"));
        Assert.Equal(Tokenizer.Encode("\uFFFD x \uFFFD"), Tokenizer.Encode("\uDC00 x \uD83D"));
        Assert.Equal([64, 5691, 65], Tokenizer.Encode("a\uD800b"));
    }

    [Theory]
    [InlineData(new byte[] { 0x61, 0xFF, 0x62 }, "a\uFFFDb")]
    [InlineData(new byte[] { 0xF0, 0x90, 0x80 }, "\uFFFD")] // truncated 4-byte sequence: one maximal subpart
    [InlineData(new byte[] { 0xC0, 0x80 }, "\uFFFD\uFFFD")] // overlong: each byte on its own
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, "\uFFFD\uFFFD\uFFFD")] // encoded surrogate
    [InlineData(new byte[] { 0xE2, 0x82, 0x41 }, "\uFFFDA")]
    public void Invalid_utf8_is_replaced_like_from_utf8_lossy(byte[] bytes, string expected)
    {
        Assert.Equal(Tokenizer.Encode(expected), Tokenizer.EncodeUtf8(bytes));
        // Decoding the same bytes as byte-level tokens gives the same text.
        int[] ids = bytes.Select(b => Tokenizer.TokenToId(ByteLevel.ByteToChar[b].ToString())!.Value).ToArray();
        Assert.Equal(expected, Tokenizer.Decode(ids));
    }

    [Fact]
    public void Contractions_fold_ascii_case_only()
    {
        // Checked against the reference binding: 'S matches (?i:'s), the long s does not.
        Assert.Equal(new[] { "IT", "'S" }, Tokenizer.Encode("IT'S").Select(id => Tokenizer.IdToToken(id)!).ToArray());
        Assert.Equal(new[] { "it", "'", "Å¿" }, Tokenizer.Encode("it'ſ").Select(id => Tokenizer.IdToToken(id)!).ToArray());
    }

    [Fact]
    public void Streaming_holds_back_an_incomplete_character()
    {
        // "😀" is F0 9F 98 80: byte-level tokens can cut it anywhere.
        int[] bytes = Encoding.UTF8.GetBytes("😀!").Select(b => Tokenizer.TokenToId(ByteLevel.ByteToChar[b].ToString())!.Value).ToArray();
        var stream = Tokenizer.CreateStreamingDetokenizer();
        Assert.Equal("", stream.Append(bytes[0]));
        Assert.Equal("", stream.Append(bytes[1]));
        Assert.Equal("", stream.Append(bytes[2]));
        Assert.Equal("😀", stream.Append(bytes[3]));
        Assert.Equal("!", stream.Append(bytes[4]));
        Assert.Equal("", stream.Flush());

        // Cut off for good: flushed as one U+FFFD; a byte that can never start a character comes out at once.
        stream = Tokenizer.CreateStreamingDetokenizer();
        Assert.Equal("", stream.Append(bytes[0]));
        Assert.Equal("", stream.Append(bytes[1]));
        Assert.Equal("\uFFFD", stream.Flush());
        Assert.Equal("\uFFFD", stream.Append(Tokenizer.TokenToId(ByteLevel.ByteToChar[0xFF].ToString())!.Value));
    }

    [Fact]
    public void Streaming_skips_special_tokens_when_asked()
    {
        var stream = Tokenizer.CreateStreamingDetokenizer(skipSpecialTokens: true);
        Assert.Equal("", stream.Append(151645));
        Assert.Equal("<tool_call>", stream.Append(151657));
    }

    [Fact]
    public void Ids_and_tokens_map_both_ways()
    {
        Assert.Equal(151674, Tokenizer.VocabularySize);
        Assert.Equal(151667, Tokenizer.TokenToId("<IMG_CONTEXT>"));
        Assert.Equal("<IMG_CONTEXT>", Tokenizer.IdToToken(151667));
        Assert.Equal(220, Tokenizer.TokenToId("Ġ"));
        Assert.True(Tokenizer.IsSpecialToken(151645));
        Assert.False(Tokenizer.IsSpecialToken(151657));
        Assert.False(Tokenizer.IsSpecialToken(220));
        Assert.Null(Tokenizer.IdToToken(151674));
        Assert.Null(Tokenizer.TokenToId("<not a token>"));
        // Unknown ids are skipped by decode, as HF does.
        Assert.Equal("ab", Tokenizer.Decode([64, 999_999, -1, 65]));
    }

    [Fact]
    public void Concurrent_encoding_gives_the_same_ids()
    {
        var cases = TokenizerFixtures.GoldenCases.Values.ToArray();
        var fresh = Qwen2Tokenizer.Load(TestPaths.TinyCheckpoint);
        Parallel.For(0, cases.Length * 4, i => Assert.Equal(cases[i % cases.Length].Ids, fresh.Encode(cases[i % cases.Length].Text)));
    }

    public static TheoryData<string, string, string> RefusedTokenizerJson() => new()
    {
        { "Unigram model", """{"model":{"type":"Unigram","vocab":[]}}""", "model type Unigram is not supported" },
        { "WordPiece model", """{"model":{"type":"WordPiece","vocab":{}}}""", "model type WordPiece is not supported" },
        { "NFKC normalizer", """{"normalizer":{"type":"NFKC"}}""", "normalizer NFKC is not supported" },
        { "GPT-2 pre-tokenizer", """{"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}}""", "pre_tokenizer ByteLevel is not supported" },
        { "other split regex", """{"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\s+"},"behavior":"Isolated","invert":false},{"type":"ByteLevel"}]}}""", "Split pattern '\\s+' is not supported" },
        { "byte fallback", """{"model":{"byte_fallback":true}}""", "BPE byte_fallback=true is not supported" },
        { "lstrip added token", """{"added_tokens":[{"id":151643,"content":"<|endoftext|>","single_word":false,"lstrip":true,"rstrip":false,"normalized":false,"special":true}]}""", "added token '<|endoftext|>' has lstrip=true" },
        { "template post-processor", """{"post_processor":{"type":"TemplateProcessing"}}""", "post_processor TemplateProcessing is not supported" },
    };

    [Theory]
    [MemberData(nameof(RefusedTokenizerJson))]
    public void Unsupported_tokenizer_json_is_refused_by_name(string what, string patch, string message)
    {
        Assert.NotEmpty(what);
        var json = JsonNode.Parse(File.ReadAllText(TokenizerFixtures.TokenizerJsonPath))!.AsObject();
        foreach (var (key, value) in JsonNode.Parse(patch)!.AsObject().ToArray())
        {
            if (json[key] is JsonObject target && value is JsonObject changes && key == "model" && changes["type"] is null)
                foreach (var (k, v) in changes.ToArray()) target[k] = v?.DeepClone();
            else json[key] = value?.DeepClone();
        }
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tokenizer.json"), json.ToJsonString());
        var e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.Load(dir.Path));
        Assert.Contains(message, e.Message);
        Assert.Equal(dir.File("tokenizer.json"), e.FilePath);
    }

    [Fact]
    public void Folder_without_tokenizer_files_is_refused()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tokenizer.model"), "");
        var e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.Load(dir.Path));
        Assert.Contains("SentencePiece tokenizers, as in InternLM2 and Phi-3, are not supported", e.Message);
    }

    [Fact]
    public void Slow_files_of_another_tokenizer_class_are_refused()
    {
        using var dir = new TempDir();
        foreach (var name in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(TestPaths.TinyCheckpoint, name), dir.File(name));
        File.WriteAllText(dir.File("tokenizer_config.json"), """{"tokenizer_class":"InternLM2Tokenizer"}""");
        var e = Assert.Throws<TokenizerException>(() => Qwen2Tokenizer.Load(dir.Path));
        Assert.Contains("tokenizer_class InternLM2Tokenizer is not supported", e.Message);
    }
}
