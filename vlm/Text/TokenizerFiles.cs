using System.Text.Json;

namespace InternVit.SK.Text;

/// <summary>
/// Reads the two forms a checkpoint ships its tokenizer in: a Hugging Face tokenizer.json (fast form), or the slow
/// Qwen2Tokenizer files that the official InternVL code loads with <c>use_fast=False</c>: vocab.json, merges.txt
/// (a <c>#version</c> header, then one <c>left right</c> pair per line), and the added tokens of tokenizer_config.json's
/// <c>added_tokens_decoder</c> and added_tokens.json. Anything this library does not implement is refused by name.
/// </summary>
internal static class TokenizerFiles
{
    private static readonly JsonDocumentOptions JsonOptions = new() { AllowTrailingCommas = true, MaxDepth = 256 };

    public static Qwen2Tokenizer Load(string path)
    {
        if (File.Exists(path)) return LoadTokenizerJson(path);
        if (!Directory.Exists(path)) throw new TokenizerException(path, "no such file or folder");
        string json = Path.Combine(path, "tokenizer.json");
        if (File.Exists(json)) return LoadTokenizerJson(json);
        if (File.Exists(Path.Combine(path, "vocab.json")) && File.Exists(Path.Combine(path, "merges.txt"))) return LoadSlowFiles(path);
        string hint = File.Exists(Path.Combine(path, "tokenizer.model"))
            ? " (there is a SentencePiece tokenizer.model: SentencePiece tokenizers, as in InternLM2 and Phi-3, are not supported)"
            : "";
        throw new TokenizerException(path, "no tokenizer.json and no vocab.json + merges.txt" + hint);
    }

    /// <summary>Builds the tokenizer from a tokenizer.json, checking every stage is the Qwen2 one.</summary>
    public static Qwen2Tokenizer LoadTokenizerJson(string file)
    {
        using var document = Parse(file);
        var root = document.RootElement;
        void Refuse(string problem) => throw new TokenizerException(file, problem);

        if (root.TryGetProperty("truncation", out var truncation) && truncation.ValueKind != JsonValueKind.Null) Refuse("truncation is set; only tokenizers without truncation are supported");
        if (root.TryGetProperty("padding", out var padding) && padding.ValueKind != JsonValueKind.Null) Refuse("padding is set; only tokenizers without padding are supported");

        var normalizer = Property(root, "normalizer");
        if (normalizer.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) && TypeOf(normalizer) != "NFC")
            Refuse($"normalizer {Describe(normalizer)} is not supported (only NFC or none)");
        bool nfc = normalizer.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined);

        CheckPreTokenizer(Property(root, "pre_tokenizer"), Refuse);

        var decoder = Property(root, "decoder");
        if (TypeOf(decoder) != "ByteLevel") Refuse($"decoder {Describe(decoder)} is not supported (only ByteLevel)");
        var post = Property(root, "post_processor");
        if (post.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) && TypeOf(post) != "ByteLevel")
            Refuse($"post_processor {Describe(post)} is not supported (only ByteLevel, which adds no tokens, or none)");

        var model = Property(root, "model");
        string modelType = TypeOf(model) ?? (model.TryGetProperty("merges", out _) ? "BPE" : "(untyped)");
        if (modelType != "BPE") Refuse($"model type {modelType} is not supported (only byte-level BPE; SentencePiece/Unigram and WordPiece are not)");
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind != JsonValueKind.Null) Refuse("BPE dropout is not supported");
        if (model.TryGetProperty("unk_token", out var unk) && unk.ValueKind != JsonValueKind.Null) Refuse("a BPE unk_token is not supported (byte-level BPE needs none)");
        foreach (var flag in new[] { "fuse_unk", "byte_fallback" })
            if (model.TryGetProperty(flag, out var value) && value.ValueKind == JsonValueKind.True) Refuse($"BPE {flag}=true is not supported");
        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.TryGetProperty(affix, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() != "") Refuse($"BPE {affix} is not supported");
        bool ignoreMerges = model.TryGetProperty("ignore_merges", out var ignore) && ignore.ValueKind == JsonValueKind.True;

        var vocabulary = ReadVocabulary(Property(model, "vocab"), file);
        var mergesElement = Property(model, "merges");
        if (mergesElement.ValueKind != JsonValueKind.Array) Refuse("model.merges is not an array");
        var merges = new List<(string, string)>(mergesElement.GetArrayLength());
        foreach (var merge in mergesElement.EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.String) merges.Add(SplitMerge(merge.GetString()!, file, merges.Count));
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2 && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
                merges.Add((merge[0].GetString()!, merge[1].GetString()!));
            else Refuse($"merge {merges.Count} is neither \"left right\" nor [left, right]");
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedElement) && addedElement.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in addedElement.EnumerateArray())
            {
                int id = token.GetProperty("id").GetInt32();
                string content = token.GetProperty("content").GetString()!;
                bool special = Flag(token, "special", false);
                added.Add(new AddedToken(id, content, special, Flag(token, "normalized", !special)));
                CheckAddedTokenFlags(token, content, file);
            }
        }
        return new Qwen2Tokenizer(new BpeModel(vocabulary, merges, ignoreMerges, file), added, nfc, file);
    }

    /// <summary>Builds the tokenizer from vocab.json + merges.txt + tokenizer_config.json / added_tokens.json, as the slow Qwen2Tokenizer does.</summary>
    public static Qwen2Tokenizer LoadSlowFiles(string directory)
    {
        string vocabFile = Path.Combine(directory, "vocab.json");
        string mergesFile = Path.Combine(directory, "merges.txt");
        string configFile = Path.Combine(directory, "tokenizer_config.json");
        string addedFile = Path.Combine(directory, "added_tokens.json");
        if (!File.Exists(vocabFile)) throw new TokenizerException(vocabFile, "file not found");
        if (!File.Exists(mergesFile)) throw new TokenizerException(mergesFile, "file not found");

        var added = new List<AddedToken>();
        var addedIds = new Dictionary<string, int>(StringComparer.Ordinal);
        var specialContents = new HashSet<string>(StringComparer.Ordinal);
        if (File.Exists(configFile))
        {
            using var config = Parse(configFile);
            var root = config.RootElement;
            if (root.TryGetProperty("tokenizer_class", out var cls) && cls.GetString() is { } tokenizerClass
                && tokenizerClass is not ("Qwen2Tokenizer" or "Qwen2TokenizerFast"))
                throw new TokenizerException(configFile, $"tokenizer_class {tokenizerClass} is not supported (only Qwen2Tokenizer's byte-level BPE)");
            foreach (var name in new[] { "bos_token", "eos_token", "unk_token", "pad_token" })
                if (root.TryGetProperty(name, out var v) && TokenContent(v) is { } content) specialContents.Add(content);
            if (root.TryGetProperty("additional_special_tokens", out var extra) && extra.ValueKind == JsonValueKind.Array)
                foreach (var v in extra.EnumerateArray())
                    if (TokenContent(v) is { } content) specialContents.Add(content);
            if (root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
            {
                foreach (var entry in decoder.EnumerateObject())
                {
                    if (!int.TryParse(entry.Name, out int id)) throw new TokenizerException(configFile, $"added_tokens_decoder key '{entry.Name}' is not an id");
                    string content = entry.Value.GetProperty("content").GetString()!;
                    bool special = Flag(entry.Value, "special", false);
                    CheckAddedTokenFlags(entry.Value, content, configFile);
                    added.Add(new AddedToken(id, content, special, Flag(entry.Value, "normalized", !special)));
                    addedIds[content] = id;
                }
            }
        }
        if (File.Exists(addedFile))
        {
            using var addedJson = Parse(addedFile);
            foreach (var entry in addedJson.RootElement.EnumerateObject())
            {
                int id = entry.Value.GetInt32();
                if (addedIds.TryGetValue(entry.Name, out int known))
                {
                    if (known != id) throw new TokenizerException(addedFile, $"'{entry.Name}' has id {id} here but {known} in tokenizer_config.json");
                    continue;
                }
                bool special = specialContents.Contains(entry.Name);
                added.Add(new AddedToken(id, entry.Name, special, !special));
                addedIds[entry.Name] = id;
            }
        }

        Dictionary<string, int> vocabulary;
        using (var vocab = Parse(vocabFile)) vocabulary = ReadVocabulary(vocab.RootElement, vocabFile);
        var merges = new List<(string, string)>(vocabulary.Count);
        int lineNumber = 0;
        foreach (var raw in File.ReadLines(mergesFile))
        {
            string line = raw.Trim();
            if ((lineNumber++ == 0 && line.StartsWith("#version:", StringComparison.Ordinal)) || line.Length == 0) continue;
            merges.Add(SplitMerge(line, mergesFile, merges.Count));
        }
        added.Sort((a, b) => a.Id.CompareTo(b.Id));
        return new Qwen2Tokenizer(new BpeModel(vocabulary, merges, ignoreMerges: false, mergesFile), added, normalizeNfc: true, directory);
    }

    private static void CheckPreTokenizer(JsonElement pre, Action<string> refuse)
    {
        // Qwen2: Sequence[Split(Qwen2 regex, Isolated, invert=false), ByteLevel(add_prefix_space=false, use_regex=false)].
        if (TypeOf(pre) != "Sequence" || !pre.TryGetProperty("pretokenizers", out var steps) || steps.GetArrayLength() != 2)
        {
            refuse($"pre_tokenizer {Describe(pre)} is not supported (only Qwen2's Sequence of Split and ByteLevel)");
            return;
        }
        var split = steps[0];
        var byteLevel = steps[1];
        if (TypeOf(split) != "Split") refuse($"pre_tokenizer step {Describe(split)} is not supported (expected Split with the Qwen2 regex)");
        string? pattern = split.TryGetProperty("pattern", out var p) && p.TryGetProperty("Regex", out var regex) ? regex.GetString() : null;
        if (pattern != Qwen2PreTokenizer.Pattern) refuse($"Split pattern {(pattern is null ? p.ToString() : "'" + pattern + "'")} is not supported (only the Qwen2 regex)");
        if (!split.TryGetProperty("behavior", out var behavior) || behavior.GetString() != "Isolated") refuse("Split behavior other than Isolated is not supported");
        if (split.TryGetProperty("invert", out var invert) && invert.ValueKind == JsonValueKind.True) refuse("Split invert=true is not supported");
        if (TypeOf(byteLevel) != "ByteLevel") refuse($"pre_tokenizer step {Describe(byteLevel)} is not supported (expected ByteLevel)");
        if (byteLevel.TryGetProperty("add_prefix_space", out var prefix) && prefix.ValueKind == JsonValueKind.True) refuse("ByteLevel add_prefix_space=true is not supported");
        if (byteLevel.TryGetProperty("use_regex", out var useRegex) && useRegex.ValueKind == JsonValueKind.True) refuse("ByteLevel use_regex=true (the GPT-2 regex) is not supported");
    }

    private static void CheckAddedTokenFlags(JsonElement token, string content, string file)
    {
        foreach (var flag in new[] { "lstrip", "rstrip", "single_word" })
            if (Flag(token, flag, false)) throw new TokenizerException(file, $"added token '{content}' has {flag}=true, which is not supported");
    }

    private static Dictionary<string, int> ReadVocabulary(JsonElement vocab, string file)
    {
        if (vocab.ValueKind != JsonValueKind.Object) throw new TokenizerException(file, "the vocabulary is not a JSON object of token -> id");
        var result = new Dictionary<string, int>(160_000, StringComparer.Ordinal);
        foreach (var entry in vocab.EnumerateObject()) result[entry.Name] = entry.Value.GetInt32();
        return result;
    }

    private static (string, string) SplitMerge(string merge, string file, int index)
    {
        int space = merge.IndexOf(' ');
        if (space <= 0 || space == merge.Length - 1 || merge.IndexOf(' ', space + 1) >= 0)
            throw new TokenizerException(file, $"merge {index} '{merge}' is not two tokens separated by one space");
        return (merge[..space], merge[(space + 1)..]);
    }

    private static JsonDocument Parse(string file)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(file), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new TokenizerException(file, $"not valid JSON ({e.Message})", e);
        }
    }

    private static JsonElement Property(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) ? value : default;

    private static string? TypeOf(JsonElement element) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty("type", out var type) ? type.GetString() : null;

    private static string Describe(JsonElement element) =>
        element.ValueKind == JsonValueKind.Undefined ? "(missing)" : TypeOf(element) ?? element.ValueKind.ToString();

    private static bool Flag(JsonElement element, string name, bool fallback) =>
        element.TryGetProperty(name, out var value) ? value.ValueKind == JsonValueKind.True : fallback;

    private static string? TokenContent(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Object when value.TryGetProperty("content", out var c) => c.GetString(),
        _ => null,
    };
}
