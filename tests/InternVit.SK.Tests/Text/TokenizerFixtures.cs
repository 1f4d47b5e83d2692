using System.Text.Json;
using InternVit.SK.Text;

namespace InternVit.SK.Tests.Text;

/// <summary>
/// The two forms of the InternVL2.5 tokenizer and of the InternVL3.5 tokenizer (Qwen3's added tokens, then InternVL's
/// from 151669) in the fixtures, loaded once, and their golden cases.
/// </summary>
internal static class TokenizerFixtures
{
    /// <summary>tests/fixtures/tokenizer: tokenizer.json stored gzipped, plus tokenizer_config.json and friends.</summary>
    public static string FastFormSource => Path.Combine(TestPaths.Fixtures, "tokenizer");

    private static readonly Lazy<string> FastFolder = new(() => Decompressed(FastFormSource, "internvl-tests-tokenizer-"));

    private static readonly Lazy<string> Internvl35FastFolder = new(() => Decompressed(Path.Combine(TestPaths.Fixtures, "tokenizer-internvl3_5"), "internvl-tests-tokenizer35-"));

    private static string Decompressed(string source, string prefix)
    {
        // Decompressed once per test run into a folder of its own (tokenizer.json + the small files beside it).
        string folder = Path.Combine(Path.GetTempPath(), prefix + Environment.ProcessId);
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(source))
            if (!file.EndsWith(".gz", StringComparison.Ordinal) && !file.EndsWith(".md", StringComparison.Ordinal))
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)), overwrite: true);
        TestPaths.Gunzip(Path.Combine(source, "tokenizer.json.gz"), Path.Combine(folder, "tokenizer.json"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return folder;
    }

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

    private static readonly Lazy<Qwen2Tokenizer> Internvl35FastTokenizer = new(() => Qwen2Tokenizer.Load(Internvl35FastFolder.Value));
    private static readonly Lazy<Qwen2Tokenizer> Internvl35SlowTokenizer = new(() => Qwen2Tokenizer.Load(TestPaths.TinyCheckpointC));

    /// <summary>InternVL3.5's tokenizer from tests/fixtures/tokenizer-internvl3_5's tokenizer.json.</summary>
    public static Qwen2Tokenizer Internvl35Fast => Internvl35FastTokenizer.Value;

    /// <summary>InternVL3.5's tokenizer from checkpoint C's slow files (vocab.json, merges.txt, tokenizer_config.json's added_tokens_decoder, added_tokens.json).</summary>
    public static Qwen2Tokenizer Internvl35Slow => Internvl35SlowTokenizer.Value;

    public static Qwen2Tokenizer Form(string form) => form switch
    {
        "tokenizer.json" => Fast,
        "slow files" => Slow,
        "internvl3_5 tokenizer.json" => Internvl35Fast,
        "internvl3_5 slow files" => Internvl35Slow,
        _ => throw new ArgumentOutOfRangeException(nameof(form)),
    };

    /// <summary>The InternVL2.5 tokenizer's forms (checkpoint A's).</summary>
    public static readonly string[] Forms = ["tokenizer.json", "slow files"];

    /// <summary>Every form with golden cases: InternVL2.5's, then InternVL3.5's.</summary>
    public static readonly string[] GoldenForms = [.. Forms, "internvl3_5 tokenizer.json", "internvl3_5 slow files"];

    /// <summary>The golden cases of <paramref name="form"/>'s tokenizer.</summary>
    public static IReadOnlyDictionary<string, GoldenCase> CasesOf(string form) =>
        form.StartsWith("internvl3_5", StringComparison.Ordinal) ? Internvl35Cases.Value : Cases.Value;

    /// <summary>Golden case <paramref name="caseId"/> of <paramref name="form"/>'s tokenizer.</summary>
    public static GoldenCase Case(string form, string caseId) => CasesOf(form)[caseId];

    private static readonly Lazy<Dictionary<string, GoldenCase>> Cases = new(() => ReadCases("tokenizer_cases.json"));

    private static readonly Lazy<Dictionary<string, GoldenCase>> Internvl35Cases = new(() => ReadCases("tokenizer_cases_internvl3_5.json"));

    private static Dictionary<string, GoldenCase> ReadCases(string file)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "goldens", file)));
        var cases = new Dictionary<string, GoldenCase>();
        foreach (var c in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            var ids = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var tokens = c.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()!).ToArray();
            cases.Add(c.GetProperty("id").GetString()!, new GoldenCase(c.GetProperty("id").GetString()!, c.GetProperty("text").GetString()!, ids, tokens,
                c.GetProperty("decoded").GetString()!, c.GetProperty("decoded_skip_special").GetString()!));
        }
        return cases;
    }

    /// <summary>tests/fixtures/goldens/tokenizer_cases.json by id (the reference: HF tokenizers 0.23.2); InternVL3.5's are <see cref="CasesOf"/>.</summary>
    public static IReadOnlyDictionary<string, GoldenCase> GoldenCases => Cases.Value;
}

internal sealed record GoldenCase(string Id, string Text, int[] Ids, string[] Tokens, string Decoded, string DecodedSkipSpecial);
