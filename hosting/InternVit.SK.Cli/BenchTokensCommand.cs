using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using InternVit.SK.Text;
using Microsoft.ML.Tokenizers;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl bench tokens --tokenizer DIR [--text-file F] [--iterations N] [--write-text F]</c>: tokenizer load time
/// and encode throughput in MB/s (UTF-8 input bytes per second; median over the iterations, after one cold pass that
/// fills the word cache), for the fast path and for Microsoft.ML.Tokenizers' <c>EncodeToIds</c> and <c>CountTokens</c>. Without <c>--text-file</c> the text is about 1 MiB of mixed content built from the repository:
/// the golden tokenizer cases (prose, CJK and other scripts, emoji, code) and the C# sources under vlm/.
/// </summary>
internal static class BenchTokensCommand
{
    private const int MixedTextBytes = 1 << 20;

    public static Command Create()
    {
        var tokenizer = new Option<DirectoryInfo>("--tokenizer") { Description = "A folder with tokenizer.json, or with the slow tokenizer files.", Required = true };
        var textFile = new Option<FileInfo?>("--text-file") { Description = "Encode this UTF-8 file instead of the built-in mixed text." };
        var iterations = new Option<int>("--iterations") { Description = "Timed encode passes (default 10).", DefaultValueFactory = _ => 10 };
        var writeText = new Option<FileInfo?>("--write-text") { Description = "Also save the benchmark text here (to time another tokenizer on the same input)." };
        var command = new Command("tokens", "Time tokenizer loading and encoding.") { tokenizer, textFile, iterations, writeText };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            string text = parse.GetValue(textFile) is { } file ? File.ReadAllText(file.FullName) : BuildMixedText();
            if (parse.GetValue(writeText) is { } target) File.WriteAllText(target.FullName, text, new UTF8Encoding(false));
            double megabytes = Encoding.UTF8.GetByteCount(text) / 1e6;

            var watch = Stopwatch.StartNew();
            var bpe = Qwen2Tokenizer.Load(parse.GetRequiredValue(tokenizer).FullName);
            double loadMs = watch.Elapsed.TotalMilliseconds;

            var ids = new List<int>(text.Length);
            watch.Restart();
            bpe.Encode(text, ids);
            double cold = watch.Elapsed.TotalSeconds;
            int n = Math.Max(1, parse.GetValue(iterations));
            double median = Median(n, () =>
            {
                ids.Clear();
                bpe.Encode(text, ids);
            });
            // The same text through Microsoft.ML.Tokenizers' Tokenizer API (result objects, budget checks).
            Tokenizer api = bpe;
            double encodeToIds = Median(n, () => api.EncodeToIds(text));
            double countTokens = Median(n, () => api.CountTokens(text));
            string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
            output.WriteLine($"tokenizer   {bpe.Source} loaded in {F(loadMs)} ms");
            output.WriteLine($"text        {F(megabytes)} MB UTF-8, {ids.Count} tokens");
            output.WriteLine($"encode      {F(megabytes / median)} MB/s median of {n} ({F(median * 1000)} ms), first pass {F(megabytes / cold)} MB/s");
            output.WriteLine($"Tokenizer   EncodeToIds {F(megabytes / encodeToIds)} MB/s, CountTokens {F(megabytes / countTokens)} MB/s, medians of {n}");
            return 0;
        });
        return command;
    }

    /// <summary>The median time of <paramref name="n"/> runs of <paramref name="run"/>, in seconds.</summary>
    private static double Median(int n, Action run)
    {
        var seconds = new double[n];
        for (int i = 0; i < n; i++)
        {
            long start = Stopwatch.GetTimestamp();
            run();
            seconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(seconds);
        return n % 2 == 1 ? seconds[n / 2] : (seconds[n / 2 - 1] + seconds[n / 2]) / 2;
    }

    /// <summary>About 1 MiB: the golden cases' texts and the library's C# sources, repeated until the size is reached.</summary>
    internal static string BuildMixedText()
    {
        string root = FindRepositoryRoot();
        var pieces = new List<string>();
        using (var cases = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(root, "tests", "fixtures", "goldens", "tokenizer_cases.json"))))
            foreach (var c in cases.RootElement.GetProperty("cases").EnumerateArray())
                pieces.Add(c.GetProperty("text").GetString()!);
        foreach (var source in Directory.EnumerateFiles(Path.Combine(root, "vlm"), "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            if (!source.EndsWith("UnicodeNormalizationData.cs", StringComparison.Ordinal)) pieces.Add(File.ReadAllText(source));
        var text = new StringBuilder(MixedTextBytes);
        int bytes = 0;
        for (int i = 0; bytes < MixedTextBytes; i = (i + 1) % pieces.Count)
        {
            text.Append(pieces[i]).Append('\n');
            bytes += Encoding.UTF8.GetByteCount(pieces[i]) + 1;
        }
        return text.ToString();
    }

    private static string FindRepositoryRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "tests", "fixtures", "goldens", "tokenizer_cases.json"))) return dir.FullName;
        throw new FileNotFoundException("the built-in benchmark text is made from the repository (tests/fixtures/goldens/tokenizer_cases.json, vlm/*.cs); run inside it or pass --text-file");
    }
}
