using System.Text.Json;
using InternVit.SK.Text;

namespace InternVit.SK.Tests.Text;

/// <summary>The two forms of the InternVL2.5 tokenizer in the fixtures, loaded once, and the golden cases.</summary>
internal static class TokenizerFixtures
{
    /// <summary>tests/fixtures/tokenizer: tokenizer.json stored gzipped, plus tokenizer_config.json and friends.</summary>
    public static string FastFormSource => Path.Combine(TestPaths.Fixtures, "tokenizer");

    private static readonly Lazy<string> FastFolder = new(() =>
    {
        // Decompressed once per test run into a folder of its own (tokenizer.json + the small files beside it).
        string folder = Path.Combine(Path.GetTempPath(), "internvl-tests-tokenizer-" + Environment.ProcessId);
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(FastFormSource))
            if (!file.EndsWith(".gz", StringComparison.Ordinal) && !file.EndsWith(".md", StringComparison.Ordinal))
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)), overwrite: true);
        TestPaths.Gunzip(Path.Combine(FastFormSource, "tokenizer.json.gz"), Path.Combine(folder, "tokenizer.json"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return folder;
    });

    /// <summary>A folder holding the decompressed tokenizer.json (the fast form).</summary>
    public static string FastFolderPath => FastFolder.Value;

    /// <summary>The decompressed tokenizer.json.</summary>
    public static string TokenizerJsonPath => Path.Combine(FastFolder.Value, "tokenizer.json");

    private static readonly Lazy<Qwen2Tokenizer> FastTokenizer = new(() => Qwen2Tokenizer.Load(FastFolder.Value));
    private static readonly Lazy<Qwen2Tokenizer> SlowTokenizer = new(() => Qwen2Tokenizer.Load(TestPaths.TinyCheckpoint));

    /// <summary>Loaded from tokenizer.json.</summary>
    public static Qwen2Tokenizer Fast => FastTokenizer.Value;

    /// <summary>Loaded from the tiny checkpoint's vocab.json + merges.txt + tokenizer_config.json (it has no tokenizer.json).</summary>
    public static Qwen2Tokenizer Slow => SlowTokenizer.Value;

    public static Qwen2Tokenizer Form(string form) => form switch
    {
        "tokenizer.json" => Fast,
        "slow files" => Slow,
        _ => throw new ArgumentOutOfRangeException(nameof(form)),
    };

    public static readonly string[] Forms = ["tokenizer.json", "slow files"];

    private static readonly Lazy<Dictionary<string, GoldenCase>> Cases = new(() =>
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "goldens", "tokenizer_cases.json")));
        var cases = new Dictionary<string, GoldenCase>();
        foreach (var c in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            var ids = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var tokens = c.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()!).ToArray();
            cases.Add(c.GetProperty("id").GetString()!, new GoldenCase(c.GetProperty("id").GetString()!, c.GetProperty("text").GetString()!, ids, tokens,
                c.GetProperty("decoded").GetString()!, c.GetProperty("decoded_skip_special").GetString()!));
        }
        return cases;
    });

    /// <summary>tests/fixtures/goldens/tokenizer_cases.json by id (the reference: HF tokenizers 0.23.2).</summary>
    public static IReadOnlyDictionary<string, GoldenCase> GoldenCases => Cases.Value;
}

internal sealed record GoldenCase(string Id, string Text, int[] Ids, string[] Tokens, string Decoded, string DecodedSkipSpecial);
