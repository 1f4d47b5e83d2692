using InternVit.SK.ModelFolder;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using InternVit.SK.Export;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl bench [--shape internvl2_5-1b|internvl3-2b|internvl3_5-1b|internvl3_5-2b|tiny|tiny-qwen3] [--precision P] [--tiles N] [--prompt-tokens N] [--gen-tokens N]
/// [--runs N] [--threads N] [--cache-dir D] [--json]</c>: the whole pipeline on a random-weight checkpoint at real shapes
/// (see <see cref="ModelBench"/>), medians over runs after a warm-up.
/// </summary>
internal static class BenchModelCommand
{
    /// <summary>Adds the options and the action to the <c>bench</c> command itself.</summary>
    public static void AddTo(Command bench)
    {
        var shape = new Option<string>("--shape") { Description = "Model shape of the random-weight checkpoint.", DefaultValueFactory = _ => "internvl2_5-1b" };
        shape.AcceptOnlyFromAmong([.. SyntheticCheckpoint.Shapes]);
        var precision = PrecisionOption.Create("Weight precision of the converted graphs.");
        var tiles = new Option<int>("--tiles") { Description = "Tiles per vision run (default 1).", DefaultValueFactory = _ => 1 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Tokens of the timed prefill (default 300).", DefaultValueFactory = _ => 300 };
        var genTokens = new Option<int>("--gen-tokens") { Description = "Tokens decoded one at a time after the first (default 32; EOS ignored).", DefaultValueFactory = _ => 32 };
        var runs = new Option<int>("--runs") { Description = "Timed runs per stage after one warm-up (default 3).", DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads") { Description = "Intra-op threads; 0 = one per physical core (default).", DefaultValueFactory = _ => 0 };
        var cacheDir = new Option<DirectoryInfo?>("--cache-dir") { Description = "Where the checkpoint and converted models are cached (default ~/.cache/internvit-sk/bench)." };
        var profile = new Option<DirectoryInfo?>("--profile") { Description = "Also run each graph once under ORT's profiler, write the traces here and print kernel time per operator." };
        var json = new Option<bool>("--json") { Description = "One JSON object instead of text." };
        var scenario = new Option<string>("--scenario")
        {
            Description = "stages: each stage on its own (default); chat: three turns about one 1024x768 photo sent the stateless way, then a new photo, caches off and on (--gen-tokens sets the answer length).",
            DefaultValueFactory = _ => "stages",
        };
        scenario.AcceptOnlyFromAmong("stages", "chat");
        foreach (var option in new Option[] { scenario, shape, precision, tiles, promptTokens, genTokens, runs, threads, cacheDir, profile, json }) bench.Add(option);
        bench.SetAction(parse =>
        {
            var o = parse.InvocationConfiguration.Output;
            bool asJson = parse.GetValue(json);
            string cache = parse.GetValue(cacheDir)?.FullName
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "internvit-sk", "bench");
            var options = new ModelBenchOptions(parse.GetRequiredValue(shape), parse.GetRequiredValue(precision), Math.Max(1, parse.GetValue(tiles)),
                Math.Max(1, parse.GetValue(promptTokens)), Math.Max(1, parse.GetValue(genTokens)), Math.Max(1, parse.GetValue(runs)),
                Math.Max(0, parse.GetValue(threads)), cache, parse.GetValue(profile)?.FullName);
            if (parse.GetValue(scenario) == "chat") return RunChat(options, asJson, o);
            var result = new ModelBench(options, asJson ? TextWriter.Null : o).Run();
            if (asJson)
            {
                o.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true }));
                return 0;
            }
            string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
            o.WriteLine($"{result.Shape} {result.Precision}, {(result.Threads == 0 ? "threads: one per physical core" : $"{result.Threads} threads")}, medians of {result.Runs} runs after a warm-up");
            o.WriteLine($"  machine              {result.Machine}; load average {result.LoadAverage}");
            o.WriteLine($"  decode + tile JPEG   {F(result.PreprocessMs)} ms (4000x3000 -> {result.PreprocessGrid})");
            o.WriteLine($"  model load           {F(result.ColdLoadMs)} ms first, {F(result.WarmLoadMs)} ms second");
            o.WriteLine($"  vision               {F(result.VisionMsPerTile)} ms per tile ({result.Tiles} per run)");
            o.WriteLine($"  prefill              {F(result.PrefillMs)} ms for {result.PromptTokens} tokens ({F(result.PromptTokens / result.PrefillMs * 1000)} tokens/s)");
            o.WriteLine($"  time to first token  {F(result.TimeToFirstTokenMs)} ms (1 tile + question, {result.FirstTokenPromptTokens} prompt tokens)");
            o.WriteLine($"  decode               {F(result.DecodeTokensPerSecond)} tokens/s over {result.GenTokens} tokens");
            o.WriteLine($"  peak RSS             {result.PeakRssBytes / 1048576.0:0} MiB; weights {result.WeightBytes / 1048576.0:0} MiB ({F((double)result.PeakRssBytes / result.WeightBytes)}x)");
            o.WriteLine($"  note: {result.Note}");
            return 0;
        });
    }

    private static int RunChat(ModelBenchOptions options, bool asJson, TextWriter o)
    {
        var runs = new ChatBench(options, asJson ? TextWriter.Null : o).Run();
        string machine = File.Exists("/proc/loadavg") ? $"load average {File.ReadAllText("/proc/loadavg").Trim()}" : "";
        if (asJson)
        {
            o.WriteLine(JsonSerializer.Serialize(new { options.Shape, Precision = options.Precision.Name(), Machine = machine, Runs = runs },
                new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true }));
            return 0;
        }
        o.WriteLine($"{options.Shape} {options.Precision.Name()}, chat of 4 turns (3 about one 1024x768 photo, then a new photo), whole history sent each turn; {machine}");
        o.WriteLine("  mode        turn  first token  prompt tokens (cached)  images (cached)  RSS       same tokens as caches off");
        foreach (var run in runs)
        {
            foreach (var t in run.Turns)
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {run.Mode,-10}  {t.Turn,4}  {t.TimeToFirstTokenMs,8:0} ms  {t.PromptTokens,6} ({t.CachedPromptTokens,5})           {t.Images} ({t.CachedImages})            {t.RssBytes >> 20,5} MiB  {(t.SameTokensAsCachesOff is bool same ? (same ? "yes" : "NO") : "")}"));
            o.WriteLine($"  {run.Mode,-10}  peak RSS {run.PeakRssBytes >> 20} MiB");
        }
        return 0;
    }
}
