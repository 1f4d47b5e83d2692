using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using InternVit.SK.Checkpoints;
using InternVit.SK.Export;
using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Tiling;
using InternVit.SK.ModelFolder;
using InternVit.SK.Onnx;
using InternVit.SK.Text;

namespace InternVit.SK.Generation;

/// <summary>
/// An InternVL model loaded for inference: the vision encoder, the language model, the token-embedding table, the
/// tokenizer and the conversation template. One loaded model serves many <see cref="Conversation"/>s, also at the same
/// time: graph runs are serialized one at a time (a vision pass, a prefill or one decode step), so concurrent
/// conversations interleave token by token and each gets exactly what it would get alone.
/// </summary>
public sealed class InternVLModel : IDisposable
{
    private readonly SemaphoreSlim _compute = new(1, 1);
    private readonly string[] _reservedTokens;
    private bool _disposed;

    private InternVLModel(string directory, ModelManifest manifest, VisionEncoder vision, LanguageModel language, TokenEmbeddings embeddings,
        Qwen2Tokenizer tokenizer, InternVLModelOptions options)
    {
        Directory = directory;
        Manifest = manifest;
        Vision = vision;
        Language = language;
        Embeddings = embeddings;
        Tokenizer = tokenizer;
        Template = ConversationTemplate.Get(manifest.Template ?? throw new CheckpointException(directory, "the manifest names no conversation template"));
        var stops = new HashSet<int>(manifest.SpecialTokens.Eos);
        if (tokenizer.TokenToId(Template.StopToken) is int stop) stops.Add(stop);
        StopTokenIds = stops;
        ContextWindow = Math.Min(options.MaxContextTokens ?? int.MaxValue, manifest.Decoder.MaxPositionEmbeddings > 0 ? manifest.Decoder.MaxPositionEmbeddings : int.MaxValue);
        DefaultMaxTiles = options.MaxTiles ?? manifest.Image.MaxTiles;
        ArgumentOutOfRangeException.ThrowIfNegative(options.ImageCacheBytes, nameof(options.ImageCacheBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(options.PromptCacheEntries, nameof(options.PromptCacheEntries));
        ArgumentOutOfRangeException.ThrowIfNegative(options.PromptCacheBytes, nameof(options.PromptCacheBytes));
        ImageCache = new ImageFeatureCache(options.ImageCacheBytes);
        PrefixCache = new PromptPrefixCache(options.PromptCacheEntries, options.PromptCacheBytes, manifest.SpecialTokens.ImageContext);
        // Text from callers must not forge the prompt's structure: the image markers and the template's own special
        // tokens (role markers, separators) are refused; other added tokens such as <ref>/<box> stay usable.
        var reserved = new List<string> { PromptBuilder.ImageStartToken, PromptBuilder.ImageEndToken, PromptBuilder.ImageContextToken };
        foreach (string part in (string[])[Template.SystemTemplate, Template.UserRole, Template.AssistantRole, Template.Separator])
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(part, @"<\|[^|<>\s]+\|>"))
                if (!reserved.Contains(m.Value) && tokenizer.TokenToId(m.Value) is not null) reserved.Add(m.Value);
        // Added tokens past the model's vocabulary (the Hugging Face-native tokenizer's <video> placeholder) have no
        // embedding row: text holding one is refused like the markers above rather than failing inside the lookup.
        foreach (var added in tokenizer.AddedTokens)
            if (added.Id >= manifest.Decoder.VocabSize && !reserved.Contains(added.Content)) reserved.Add(added.Content);
        _reservedTokens = reserved.ToArray();
    }

    /// <summary>
    /// Refuses text that contains a token reserved for the prompt's structure (image markers, role markers); with
    /// <paramref name="allowImagePlaceholders"/> false, also the <c>&lt;image&gt;</c> placeholder.
    /// </summary>
    /// <exception cref="ArgumentException">The text contains a reserved token.</exception>
    internal void RefuseReservedTokens(string? text, string what, bool allowImagePlaceholders)
    {
        if (string.IsNullOrEmpty(text)) return;
        string? first = null;
        int firstAt = int.MaxValue;
        foreach (string token in _reservedTokens)
        {
            int at = text.IndexOf(token, StringComparison.Ordinal);
            if (at >= 0 && at < firstAt) (first, firstAt) = (token, at);
        }
        if (first is not null)
            throw new ArgumentException($"{what} contains '{first}', a token reserved for the prompt's structure", what);
        if (!allowImagePlaceholders && text.Contains(PromptBuilder.ImagePlaceholder, StringComparison.Ordinal))
            throw new ArgumentException($"{what} contains the image placeholder '{PromptBuilder.ImagePlaceholder}'; only user turns with images may", what);
    }

    /// <summary>The model folder (the converted one, when loaded from an original checkpoint).</summary>
    public string Directory { get; }

    /// <summary>What the folder holds.</summary>
    public ModelManifest Manifest { get; }

    /// <summary>Tiles → image features.</summary>
    internal VisionEncoder Vision { get; }

    /// <summary>Embeddings → logits, with a KV cache.</summary>
    internal LanguageModel Language { get; }

    /// <summary>Features of images seen before, shared by every conversation on this model.</summary>
    internal ImageFeatureCache ImageCache { get; }

    /// <summary>KV caches kept after generations, for requests that start with the same inputs.</summary>
    internal PromptPrefixCache PrefixCache { get; }

    /// <summary>What the image-feature cache and the prompt-prefix cache hold now, against their bounds.</summary>
    public CacheUsage CacheUsage => new(ImageCache.Count, ImageCache.Bytes, ImageCache.MaxBytes,
        PrefixCache.Count, PrefixCache.Bytes, PrefixCache.MaxEntries, PrefixCache.MaxBytes);

    /// <summary>Whether images get a <see cref="ImageFeatures.CacheKey"/> (either cache needs it).</summary>
    internal bool KeysImages => ImageCache.MaxBytes > 0 || PrefixCache.Enabled;

    /// <summary>Token id → embedding row.</summary>
    internal TokenEmbeddings Embeddings { get; }

    /// <summary>The model's tokenizer.</summary>
    public Qwen2Tokenizer Tokenizer { get; }

    /// <summary>The conversation template named by the checkpoint.</summary>
    public ConversationTemplate Template { get; }

    /// <summary>Most tokens one conversation turn may hold, prompt and answer together.</summary>
    public int ContextWindow { get; }

    /// <summary>Most tiles per image unless a request says otherwise.</summary>
    public int DefaultMaxTiles { get; }

    /// <summary>
    /// Where the graphs actually run: <see cref="OrtExecutionProvider.Cuda"/> only when CUDA was asked for and ONNX
    /// Runtime could use it; otherwise the CPU, with the reason in <see cref="ProviderFallbackReason"/>.
    /// </summary>
    public OrtExecutionProvider ExecutionProvider => Vision.Session.ExecutionProvider;

    /// <summary>Why the requested execution provider could not be used (null when it was, or none was requested).</summary>
    public string? ProviderFallbackReason => Vision.Session.ProviderFallbackReason;

    /// <summary>Tokens that end an answer: the template's stop token and the checkpoint's EOS ids.</summary>
    internal IReadOnlySet<int> StopTokenIds { get; }

    /// <summary>
    /// Loads <paramref name="path"/>: a converted model folder, or an original InternVL checkpoint, which is converted
    /// once into <see cref="InternVLModelOptions.CacheDirectory"/> and reused from there on later loads.
    /// </summary>
    /// <exception cref="CheckpointException">Neither a model folder nor a convertible checkpoint, or a file is missing or inconsistent.</exception>
    public static async Task<InternVLModel> LoadAsync(string path, InternVLModelOptions? options = null, IProgress<ConversionProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new InternVLModelOptions();
        if (path == "~" || path.StartsWith("~/", StringComparison.Ordinal))
            path = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + path[1..];
        string root = Path.GetFullPath(path);
        if (!System.IO.Directory.Exists(root)) throw new DirectoryNotFoundException($"model folder not found: {root}");
        if (!ModelManifest.Exists(root))
        {
            if (!File.Exists(Path.Combine(root, "config.json")))
                throw new CheckpointException(root, "neither a converted model folder (manifest.json) nor an original checkpoint (config.json)");
            string target = Path.Combine(options.CacheDirectory ?? InternVLModelOptions.DefaultCacheDirectory(), CacheName(root, options.ConversionPrecision));
            await ModelConverter.ConvertAsync(root, target, new ConversionOptions { Precision = options.ConversionPrecision }, progress, cancellationToken).ConfigureAwait(false);
            root = target;
        }
        return await Task.Run(() => Open(root, options), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens the converted model folder <paramref name="directory"/>. The graphs' sessions and the tokenizer load at the
    /// same time: most of a session's load is ONNX Runtime pre-packing its weights on one thread.
    /// </summary>
    internal static InternVLModel Open(string directory, InternVLModelOptions? options = null)
    {
        options ??= new InternVLModelOptions();
        string root = Path.GetFullPath(directory);
        var manifest = ModelManifest.Load(root);
        if (manifest.Prefill is { } prefill && (!SamePorts(prefill.Inputs, manifest.Decoder.Inputs) || !SamePorts(prefill.Outputs, manifest.Decoder.Outputs)))
            throw new CheckpointException(root, $"the manifest's prefill graph '{prefill.File}' has other inputs or outputs than the decoder; convert again with --force");
        var sessionOptions = options.SessionOptions();
        Task<OrtSession> Session(ManifestGraph graph, string name) => Task.Run(() =>
        {
            // ORT names a trace {prefix}_{time}.json: each graph gets its own prefix, so the traces of sessions opened
            // together can be told apart (and never share a name).
            var graphOptions = sessionOptions.ProfilingPrefix is { } prefix
                ? sessionOptions with { ProfilingPrefix = $"{prefix}-{name}" }
                : sessionOptions;
            var session = OrtSession.Create(Path.Combine(root, graph.File), graphOptions);
            try
            {
                CheckSignature(root, graph, session);
                return session;
            }
            catch
            {
                session.Dispose();
                throw;
            }
        });
        var visionTask = Session(manifest.Vision, "vision");
        var decoderTask = Session(manifest.Decoder, "decoder");
        var prefillTask = manifest.Prefill is { } p ? Session(p, "prefill") : Task.FromResult<OrtSession>(null!);
        var tokenizerTask = Task.Run(() => Qwen2Tokenizer.Load(root));
        var owned = new List<IDisposable>();
        try
        {
            try
            {
                Task.WaitAll(visionTask, decoderTask, prefillTask, tokenizerTask);
            }
            catch (AggregateException)
            {
                foreach (var task in new[] { visionTask, decoderTask, prefillTask })
                    if (task.IsCompletedSuccessfully) task.Result?.Dispose();
                // The first failure in load order, with its own type and stack.
                var failed = new Task[] { visionTask, decoderTask, prefillTask, tokenizerTask }.First(t => t.IsFaulted);
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed.Exception!.InnerExceptions[0]);
            }
            owned.AddRange([visionTask.Result, decoderTask.Result]);
            if (prefillTask.Result is { } prefillSession) owned.Add(prefillSession);
            var vision = new VisionEncoder(visionTask.Result, manifest);
            var language = new LanguageModel(decoderTask.Result, manifest.Decoder, prefillTask.Result);
            var embeddings = TokenEmbeddings.Open(Path.Combine(root, manifest.Embeddings.File), manifest.Embeddings.Tensor);
            owned.Add(embeddings);
            if (embeddings.HiddenSize != language.HiddenSize)
                throw new CheckpointException(root, $"embedding width {embeddings.HiddenSize} differs from the decoder's {language.HiddenSize}");
            return new InternVLModel(root, manifest, vision, language, embeddings, tokenizerTask.Result, options);
        }
        catch
        {
            foreach (var d in owned) d.Dispose();
            throw;
        }
    }

    /// <summary>Starts a conversation with <paramref name="systemPrompt"/> (null: the template's default system message).</summary>
    public Conversation StartConversation(string? systemPrompt = null) => new(this, systemPrompt);

    /// <summary>
    /// Encodes <paramref name="image"/> the way a conversation encodes the images of a user turn: decoded (with the
    /// default <see cref="ImageDecodeOptions"/>; decode it yourself and pass <see cref="ImageInput.FromImage"/> for other
    /// options), cut into tiles by dynamic tiling, and the tiles run through the vision encoder and the projector. The
    /// tile limit is the image's own <see cref="ImageInput.MaxTiles"/>, else <paramref name="maxTiles"/>, else
    /// <see cref="DefaultMaxTiles"/>. Like a generation step, the vision graph runs under the model's compute lock, so
    /// this interleaves safely with conversations in progress.
    /// </summary>
    /// <exception cref="ImageDecodeException">The image cannot be decoded.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxTiles"/> is outside 1..40.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    public async Task<ImageFeatures> EncodeImageAsync(ImageInput image, int? maxTiles = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        TilingOptions.CheckMaxTiles(maxTiles, nameof(maxTiles));
        cancellationToken.ThrowIfCancellationRequested();
        var tiler = Tiler(image.MaxTiles ?? maxTiles);
        var (key, cached) = LookUpFeatures(image, null, tiler);
        if (cached is not null) return cached;
        var decoded = image.Decode(null, out bool owned);
        try
        {
            return (await EncodeAsync(decoded, tiler, key, cancellationToken).ConfigureAwait(false)).Features;
        }
        finally
        {
            if (owned) decoded.Dispose();
        }
    }

    /// <summary>
    /// Runs the language model over <paramref name="tokenIds"/> as one sequence from position 0 (no template, no images)
    /// and returns the logits of its last <paramref name="logitsToKeep"/> positions, or of every position with 0 (the
    /// default): [kept positions, <c>Manifest.Decoder.VocabSize</c>] float32, row-major. For scoring text (log
    /// probabilities, perplexity), choosing among answers, or comparing with a reference implementation; keep 1 for the
    /// next-token distribution only, which also spares the language-model head over the other positions. Runs under the
    /// model's compute lock, like a generation step.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="tokenIds"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An id outside the vocabulary, or <paramref name="logitsToKeep"/> negative or more than the ids.</exception>
    /// <exception cref="ContextWindowExceededException">More ids than <see cref="ContextWindow"/>; nothing was run.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    public Task<float[]> GetLogitsAsync(IReadOnlyList<int> tokenIds, int logitsToKeep = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenIds);
        if (tokenIds.Count == 0) throw new ArgumentException("no token ids", nameof(tokenIds));
        ArgumentOutOfRangeException.ThrowIfNegative(logitsToKeep);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(logitsToKeep, tokenIds.Count);
        if (tokenIds.Count > ContextWindow)
            throw new ContextWindowExceededException(tokenIds.Count, ContextWindow, $"{tokenIds.Count} token ids do not fit the context window of {ContextWindow}");
        int[] ids = [.. tokenIds];
        return RunExclusiveAsync(() =>
        {
            var embeds = new float[ids.Length * Embeddings.HiddenSize];
            Embeddings.Lookup(ids, embeds);
            using var cache = Language.CreateCache(ids.Length);
            return Language.Forward(embeds, cache, logitsToKeep, cancellationToken);
        }, cancellationToken);
    }

    /// <summary>
    /// The identity of <paramref name="image"/>'s features under <paramref name="decoding"/> and <paramref name="tiler"/>
    /// (null when neither cache is on), and the features when the image-feature cache holds them: a hash of the image's
    /// bytes and a lookup, no decode.
    /// </summary>
    internal (UInt128? Key, ImageFeatures? Cached) LookUpFeatures(ImageInput image, Imaging.ImageDecodeOptions? decoding, DynamicTiler tiler)
    {
        if (!KeysImages) return (null, null);
        var key = ImageFeatureCache.KeyOf(image, decoding, tiler.Options);
        return key is { } k && ImageCache.TryGet(k, out var features) ? (key, features) : (key, null);
    }

    /// <summary>
    /// Tiles <paramref name="image"/> on the calling thread, then runs the tiles through the vision graph under the
    /// compute lock. Returns the features (kept in the image-feature cache under <paramref name="key"/>, when given), the
    /// time tiling took (the rest of the call is the vision encoder's) and whether the features came from the cache
    /// after all. The cache is looked up before tiling (the same image twice in one request) and again under the lock:
    /// requests that bring the same new image at once wait for the lock, and the first to hold it encodes it for all.
    /// </summary>
    internal async Task<(ImageFeatures Features, TimeSpan Tiling, bool Cached)> EncodeAsync(DecodedImage image, DynamicTiler tiler, UInt128? key,
        CancellationToken cancellationToken)
    {
        if (key is { } known && ImageCache.TryGet(known, out var before)) return (before, TimeSpan.Zero, true);
        long start = Stopwatch.GetTimestamp();
        var grid = tiler.Plan(image.Width, image.Height);
        int pixelCount = grid.TileCount * tiler.FloatsPerTile;
        float[] pixels = IO.RequestBuffers.Floats.Rent(pixelCount);
        try
        {
            tiler.Tile(image, pixels.AsSpan(0, pixelCount), cancellationToken);
            var tiling = Stopwatch.GetElapsedTime(start);
            var (features, cached) = await RunExclusiveAsync(() =>
            {
                if (key is { } k && ImageCache.TryGet(k, out var encoded)) return (encoded, true);
                var values = new float[grid.TileCount * Vision.FeaturesPerTile];
                Vision.Encode(pixels.AsMemory(0, pixelCount), grid.TileCount, values, cancellationToken);
                var result = new ImageFeatures(grid, Vision.TokensPerTile, Vision.HiddenSize, values) { CacheKey = key };
                if (key is { } added) ImageCache.Add(added, result); // under the lock: a request waiting for it finds the features
                return (result, false);
            }, cancellationToken).ConfigureAwait(false);
            return (features, tiling, cached);
        }
        finally
        {
            IO.RequestBuffers.Floats.Return(pixels);
        }
    }

    internal PromptBuilder CreatePromptBuilder(string? systemPrompt) => new(Template, Manifest.Image.TokensPerTile, systemPrompt);

    internal DynamicTiler Tiler(int? maxTiles) => new(new TilingOptions
    {
        ImageSize = Manifest.Image.ImageSize,
        MinTiles = Manifest.Image.MinTiles,
        MaxTiles = maxTiles ?? DefaultMaxTiles,
        UseThumbnail = Manifest.Image.UseThumbnail,
    });

    /// <summary>Runs one graph pass while holding the model's compute lock, off the caller's thread.</summary>
    internal async Task<T> RunExclusiveAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        await _compute.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return await Task.Run(work, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _compute.Release();
        }
    }

    internal Task RunExclusiveAsync(Action work, CancellationToken cancellationToken) =>
        RunExclusiveAsync(() => { work(); return true; }, cancellationToken);

    /// <summary>
    /// The cache sub-folder for an original checkpoint: its folder name, the precision, the model-folder format version,
    /// the converter's graph revision, and a key over config.json's bytes and the weight files' names, sizes and modification times (hashing gigabytes
    /// of weights on every load would cost seconds).
    /// </summary>
    private static string CacheName(string checkpoint, Precision precision)
    {
        var key = new StringBuilder();
        key.Append(precision.Name()).Append('\n').Append(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(checkpoint, "config.json"))))).Append('\n');
        // A Hugging Face-native checkpoint keeps its tiling limits in preprocessor_config.json.
        string preprocessor = Path.Combine(checkpoint, "preprocessor_config.json");
        if (File.Exists(preprocessor)) key.Append(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(preprocessor)))).Append('\n');
        foreach (string file in System.IO.Directory.EnumerateFiles(checkpoint, "*.safetensors*").Order(StringComparer.Ordinal))
        {
            var info = new FileInfo(file);
            key.Append(info.Name).Append(' ').Append(info.Length).Append(' ').Append(info.LastWriteTimeUtc.Ticks).Append('\n');
        }
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())))[..16];
        return $"{Path.GetFileName(checkpoint.TrimEnd(Path.DirectorySeparatorChar))}-{precision.Name()}-v{ModelManifest.CurrentFormatVersion}.{ModelConverter.GraphRevision}-{hash}";
    }

    private static bool SamePorts(ManifestPort[] a, ManifestPort[] b) =>
        a.Length == b.Length && a.Zip(b).All(p => p.First.Name == p.Second.Name && p.First.Type == p.Second.Type
            && p.First.Shape.ToJsonString() == p.Second.Shape.ToJsonString());

    private static void CheckSignature(string root, ManifestGraph graph, OrtSession session)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in session.InputNames) names.Add(input);
        foreach (var port in graph.Inputs)
            if (!names.Contains(port.Name))
                throw new CheckpointException(Path.Combine(root, graph.File), $"the graph has no input '{port.Name}' that the manifest names; convert again with --force");
    }

    /// <summary>Waits for the graph run in progress (if any), then releases the model; later runs throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        _compute.Wait();
        try
        {
            if (_disposed) return;
            _disposed = true;
            PrefixCache.Dispose();
            Vision.Dispose();
            Language.Dispose();
            Embeddings.Dispose();
        }
        finally
        {
            _compute.Release();
        }
    }
}
