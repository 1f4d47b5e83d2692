using System.Diagnostics;
using InternVit.SK.Export;
using InternVit.SK.Generation;
using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Tiling;
using InternVit.SK.ModelFolder;

namespace InternVit.SK.Cli;

/// <summary>What <see cref="ModelBench"/> measures.</summary>
internal sealed record ModelBenchOptions(string Shape, Precision Precision, int Tiles, int PromptTokens, int GenTokens, int Runs, int Threads, string CacheDirectory,
    string? ProfileDirectory = null, int Seed = 1);

/// <summary>Medians of one bench run (milliseconds unless named otherwise).</summary>
internal sealed record ModelBenchResult
{
    public required string Shape { get; init; }
    public required Precision Precision { get; init; }
    public required int Threads { get; init; }
    public required int Runs { get; init; }
    public required string Machine { get; init; }
    public required string LoadAverage { get; init; }
    public required double PreprocessMs { get; init; }
    public required string PreprocessGrid { get; init; }
    public required double ColdLoadMs { get; init; }
    public required double WarmLoadMs { get; init; }
    public required int Tiles { get; init; }
    public required double VisionMsPerTile { get; init; }
    public required int PromptTokens { get; init; }
    public required double PrefillMs { get; init; }
    public required int FirstTokenPromptTokens { get; init; }
    public required double TimeToFirstTokenMs { get; init; }
    public required int GenTokens { get; init; }
    public required double DecodeTokensPerSecond { get; init; }
    public required long PeakRssBytes { get; init; }
    public required long WeightBytes { get; init; }
    public required string Note { get; init; }
}

/// <summary>
/// The end-to-end benchmark behind <c>internvl bench</c>: a seeded random-weight checkpoint at the real shapes (written
/// once and cached), converted with the real converter, then timed stage by stage through the engine's public API
/// (<see cref="InternVLModel.EncodeImageAsync"/>, <see cref="InternVLModel.GetLogitsAsync"/>, a conversation's
/// <see cref="GenerationResult.Timings"/>). Speed depends on shapes, not on weight values, so this measures what a real
/// checkpoint of the same shape would.
/// </summary>
internal sealed class ModelBench(ModelBenchOptions options, TextWriter log)
{
    /// <summary>The question of the time-to-first-token prompt.</summary>
    private const string Question = "<image>\nDescribe this image in one sentence.";

    /// <summary>The question of the profiled generation (no image: the vision graph is profiled on its own).</summary>
    private const string ProfiledQuestion = "Describe a photo in one sentence.";

    public ModelBenchResult Run()
    {
        string modelDir = EnsureConvertedModel();

        var (preprocessMs, grid) = MeasurePreprocessing();
        // The writer, the converter and the synthetic 12-megapixel JPEG were built in this process: their garbage goes
        // back to the system, and the peak counts from here (model load, vision, prefill, generation).
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        ResetPeakRss();
        var loadOptions = Uncached(options.Threads);
        double coldLoadMs = Time(() => Load(modelDir, loadOptions).Dispose());
        var load = Stopwatch.StartNew();
        using var model = Load(modelDir, loadOptions);
        double warmLoadMs = load.Elapsed.TotalMilliseconds;
        log.WriteLine($"loaded in {warmLoadMs:0} ms (first load {coldLoadMs:0} ms)");

        var (visionRunMs, tiles) = MeasureVision(model);
        double visionMs = visionRunMs / tiles;
        log.WriteLine($"vision: {visionMs:0} ms per tile");
        double prefillMs = MeasurePrefill(model);
        log.WriteLine($"prefill of {options.PromptTokens} tokens: {prefillMs:0} ms");
        var (ttftMs, firstPromptTokens, tokensPerSecond) = MeasureFirstTokenAndDecode(model);
        log.WriteLine($"time to first token: {ttftMs:0} ms; decode {tokensPerSecond:0.0} tokens/s");

        using var process = Process.GetCurrentProcess();
        process.Refresh();
        long peakRss = process.PeakWorkingSet64; // before profiling, which opens the model a second time
        if (options.ProfileDirectory is not null) Profile(modelDir);
        return new ModelBenchResult
        {
            Shape = options.Shape,
            Precision = options.Precision,
            Threads = options.Threads,
            Runs = options.Runs,
            Machine = $"{Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}",
            LoadAverage = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "",
            PreprocessMs = preprocessMs,
            PreprocessGrid = grid,
            ColdLoadMs = coldLoadMs,
            WarmLoadMs = warmLoadMs,
            Tiles = tiles,
            VisionMsPerTile = visionMs,
            PromptTokens = options.PromptTokens,
            PrefillMs = prefillMs,
            FirstTokenPromptTokens = firstPromptTokens,
            TimeToFirstTokenMs = ttftMs,
            GenTokens = options.GenTokens,
            DecodeTokensPerSecond = tokensPerSecond,
            PeakRssBytes = peakRss,
            WeightBytes = WeightBytes(modelDir),
            Note = "vision runs EncodeImageAsync on a decoded image (its tiling included), prefill GetLogitsAsync keeping the last position (its embedding lookup included); " +
                "time to first token and decode run the generation loop (Conversation.GenerateAsync, greedy, end of sequence suppressed until gen-tokens)",
        };
    }

    /// <summary>
    /// One vision run, one prefill and a generation of <c>GenTokens</c> decode steps under ORT's profiler
    /// (<see cref="InternVLModelOptions.ProfilingPrefix"/>); kernel time per operator type from each graph's trace,
    /// which is complete once the model is disposed.
    /// </summary>
    private void Profile(string modelDir)
    {
        string folder = Directory.CreateDirectory(options.ProfileDirectory!).FullName;
        string prefix = Path.Combine(folder, options.Precision.Name());
        var earlier = new HashSet<string>(Directory.EnumerateFiles(folder), StringComparer.Ordinal);
        int tiles, generationPrompt;
        bool hasPrefillGraph;
        using (var model = Load(modelDir, Uncached(options.Threads) with { ProfilingPrefix = prefix }))
        {
            hasPrefillGraph = model.Manifest.Prefill is not null;
            var (image, maxTiles) = VisionImage(model);
            using (image)
                tiles = model.EncodeImageAsync(ImageInput.FromImage(image), maxTiles).GetAwaiter().GetResult().Grid.TileCount;
            model.GetLogitsAsync(RandomIds(), logitsToKeep: 1).GetAwaiter().GetResult();
            var generation = new GenerationOptions { MaxNewTokens = options.GenTokens + 1, MinNewTokens = options.GenTokens + 1 };
            generationPrompt = model.StartConversation().GenerateAsync(ProfiledQuestion, null, generation).GetAwaiter().GetResult().Usage.PromptTokens;
        }
        string Trace(string graph) => Directory.EnumerateFiles(folder, $"{Path.GetFileName(prefix)}-{graph}_*.json")
            .Where(f => !earlier.Contains(f)).OrderByDescending(File.GetLastWriteTimeUtc).First();
        string prompts = $"prefill of {options.PromptTokens} and of a {generationPrompt}-token prompt";
        OrtProfileSummary.Write(log, $"vision ({tiles} tile(s))", Trace("vision"));
        if (hasPrefillGraph)
        {
            OrtProfileSummary.Write(log, $"decoder prefill graph ({prompts})", Trace("prefill"));
            OrtProfileSummary.Write(log, $"decoder ({options.GenTokens} decode steps)", Trace("decoder"));
        }
        else
        {
            OrtProfileSummary.Write(log, $"decoder ({prompts} + {options.GenTokens} decode steps)", Trace("decoder"));
        }
    }

    /// <summary>The random-weight checkpoint of the shape, converted to the precision (both written once and cached).</summary>
    internal string EnsureConvertedModel()
    {
        string root = Path.Combine(options.CacheDirectory, $"{options.Shape}-seed{options.Seed}");
        string checkpoint = EnsureCheckpoint(Path.Combine(root, "hf"));
        return EnsureModel(checkpoint, Path.Combine(root, options.Precision.Name()));
    }

    private static InternVLModel Load(string modelDir, InternVLModelOptions loadOptions) =>
        InternVLModel.LoadAsync(modelDir, loadOptions).GetAwaiter().GetResult();

    private string EnsureCheckpoint(string directory)
    {
        string done = Path.Combine(directory, ".complete");
        if (File.Exists(done)) return directory;
        log.WriteLine($"writing a random-weight {options.Shape} checkpoint (seed {options.Seed}) to {directory} ...");
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        double ms = Time(() =>
        {
            SyntheticCheckpoint.Write(directory, SyntheticCheckpoint.Config(options.Shape), options.Seed);
            SyntheticCheckpoint.WriteByteLevelTokenizer(directory, SyntheticCheckpoint.IsQwen3(options.Shape));
        });
        File.WriteAllText(done, "");
        log.WriteLine($"  written in {ms / 1000:0.0} s");
        return directory;
    }

    /// <summary>The converted model, converted again whenever the converter was rebuilt (its graphs may differ).</summary>
    private string EnsureModel(string checkpoint, string directory)
    {
        string build = typeof(ModelConverter).Assembly.ManifestModule.ModuleVersionId.ToString();
        string stamp = directory + ".build";
        if (ModelManifest.Exists(directory) && File.Exists(stamp) && File.ReadAllText(stamp) == build) return directory;
        log.WriteLine($"converting to {options.Precision.Name()} in {directory} ...");
        double ms = Time(() => ModelConverter.ConvertAsync(checkpoint, directory, new ConversionOptions { Precision = options.Precision, Force = true }).GetAwaiter().GetResult());
        File.WriteAllText(stamp, build);
        log.WriteLine($"  converted in {ms / 1000:0.0} s");
        return directory;
    }

    /// <summary>Decode + tile of a 4000×3000 JPEG (smooth gradients with noise, quality 90) into 12 + 1 tiles.</summary>
    private (double Ms, string Grid) MeasurePreprocessing()
    {
        byte[] jpeg = SyntheticJpeg(4000, 3000);
        var tiler = new DynamicTiler(new TilingOptions { MaxTiles = 12 });
        var pixelValues = new float[tiler.MaxPixelValuesLength];
        TileGrid grid = default;
        var ms = Medians(() =>
        {
            using var decoded = ImageDecoder.Decode(jpeg);
            grid = tiler.Tile(decoded, pixelValues);
        });
        return (ms, $"{grid.Columns}x{grid.Rows}+{(grid.TileCount > grid.Columns * grid.Rows ? 1 : 0)} tiles");
    }

    /// <summary>
    /// The vision encoder on one image of <c>Tiles</c> tiles: <see cref="InternVLModel.EncodeImageAsync"/> on an already
    /// decoded image whose grid gives that many tiles, so a run is the tiling of that image (a few milliseconds: its
    /// grid tiles are cut at their own size, the thumbnail is one small resize) and the vision graph. Returns the median
    /// milliseconds of a run and the tiles of a run. With the thumbnail on, a grid of more than one tile adds it, so 2
    /// tiles cannot be made: that runs 3.
    /// </summary>
    private (double Ms, int Tiles) MeasureVision(InternVLModel model)
    {
        var (image, maxTiles) = VisionImage(model);
        using (image)
        {
            int tiles = 0;
            double ms = Medians(() => tiles = model.EncodeImageAsync(ImageInput.FromImage(image), maxTiles).GetAwaiter().GetResult().Grid.TileCount);
            if (tiles != options.Tiles) log.WriteLine($"vision: an image cannot be cut into {options.Tiles} tiles; timing {tiles}");
            return (ms, tiles);
        }
    }

    /// <summary>
    /// An image of <c>Tiles</c> tiles (seeded noise; speed does not depend on the pixels) and the tile limit that cuts
    /// it so: a row of grid tiles exactly the tile size, plus the thumbnail where the model adds one.
    /// </summary>
    private (DecodedImage Image, int MaxTiles) VisionImage(InternVLModel model)
    {
        int side = model.Manifest.Image.ImageSize;
        int grid = options.Tiles == 1 ? 1 : model.Manifest.Image.UseThumbnail ? Math.Max(2, options.Tiles - 1) : options.Tiles;
        grid = Math.Min(grid, TilingOptions.MaxSupportedTiles);
        var rgb = new byte[grid * side * side * 3];
        new Random(2).NextBytes(rgb);
        return (DecodedImage.FromRgb24(grid * side, side, rgb), grid);
    }

    /// <summary>
    /// The language model over a prompt of <c>PromptTokens</c> random ids, keeping the last position's logits as a
    /// generation's prefill does (<see cref="InternVLModel.GetLogitsAsync"/>: the embedding lookup, then one run of the
    /// decoder, or of the prefill graph where the folder has one, in a cache of that many positions).
    /// </summary>
    private double MeasurePrefill(InternVLModel model)
    {
        int[] ids = RandomIds();
        return Medians(() => model.GetLogitsAsync(ids, logitsToKeep: 1).GetAwaiter().GetResult());
    }

    /// <summary><c>PromptTokens</c> ids below Qwen2's special tokens, seeded.</summary>
    private int[] RandomIds()
    {
        var random = new Random(options.Seed);
        var ids = new int[options.PromptTokens];
        for (int i = 0; i < ids.Length; i++) ids[i] = random.Next(0, 151643);
        return ids;
    }

    /// <summary>
    /// The real generation loop: one 448×448 JPEG (one tile) and a short question → time to first token; then
    /// <c>GenTokens</c> more tokens (end of sequence suppressed until then, as <c>min_new_tokens</c> does) → decode speed.
    /// </summary>
    private (double TtftMs, int PromptTokens, double TokensPerSecond) MeasureFirstTokenAndDecode(InternVLModel model)
    {
        byte[] jpeg = SyntheticJpeg(448, 448);
        var generation = new GenerationOptions { MaxNewTokens = options.GenTokens + 1, MinNewTokens = options.GenTokens + 1, MaxTiles = 1 };
        var results = new List<GenerationResult>();
        for (int run = 0; run <= Math.Max(1, options.Runs); run++)
            results.Add(model.StartConversation().GenerateAsync(Question, [ImageInput.FromBytes(jpeg)], generation).GetAwaiter().GetResult());
        results.RemoveAt(0); // warm-up
        var ttft = results.Select(r => r.Timings.TimeToFirstToken.TotalMilliseconds).Order().ToArray();
        var speed = results.Select(r => r.Timings.DecodeTokensPerSecond(r.Usage.CompletionTokens)).Order().ToArray();
        return (ttft[ttft.Length / 2], results[0].Usage.PromptTokens, speed[speed.Length / 2]);
    }

    /// <summary>Median over <c>Runs</c> timed calls after one warm-up call.</summary>
    private double Medians(Action action) => Medians(() => { action(); return 0; }, subtractReturned: false);

    /// <summary>Median over runs after a warm-up; with <paramref name="subtractReturned"/>, the milliseconds the call returns are not counted.</summary>
    private double Medians(Func<double> action, bool subtractReturned)
    {
        action();
        var times = new double[Math.Max(1, options.Runs)];
        for (int i = 0; i < times.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            double excluded = action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds - (subtractReturned ? excluded : 0);
        }
        Array.Sort(times);
        return times[times.Length / 2];
    }

    /// <summary>
    /// Model options with the image-feature and prompt-prefix caches off: the stages run the same image and prompt several
    /// times, and a cache hit would time a lookup instead of the graph.
    /// </summary>
    internal static InternVLModelOptions Uncached(int threads) =>
        new() { IntraOpThreads = threads, ImageCacheBytes = 0, PromptCacheEntries = 0, PromptCacheBytes = 0 };

    /// <summary>Linux: writing 5 to clear_refs resets VmHWM, the peak resident set size.</summary>
    internal static void ResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static double Time(Action action)
    {
        long start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    /// <summary>A photo-like test image: smooth colour gradients plus noise (seeded), so the JPEG has realistic entropy.</summary>
    internal static byte[] SyntheticJpeg(int width, int height, int seed = 5)
    {
        var rgb = new byte[width * height * 3];
        var random = new Random(seed);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = (y * width + x) * 3, noise = random.Next(-12, 13);
                rgb[i] = (byte)Math.Clamp(255 * x / width + noise, 0, 255);
                rgb[i + 1] = (byte)Math.Clamp(255 * y / height + noise, 0, 255);
                rgb[i + 2] = (byte)Math.Clamp(128 + (int)(100 * Math.Sin((x + y) / 50.0)) + noise, 0, 255);
            }
        return JpegEncoder.EncodeRgb(rgb, width, height, 90);
    }

    private static long WeightBytes(string modelDir)
    {
        long total = 0;
        foreach (string file in Directory.EnumerateFiles(modelDir))
            if (file.EndsWith(".onnx", StringComparison.Ordinal) || file.EndsWith(".onnx.data", StringComparison.Ordinal) || file.EndsWith(".safetensors", StringComparison.Ordinal))
                total += new FileInfo(file).Length;
        return total;
    }
}
