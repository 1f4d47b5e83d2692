using System.Diagnostics;
using System.Runtime.CompilerServices;
using InternVit.SK.Generation.Sampling;
using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Tiling;

namespace InternVit.SK.Generation;

/// <summary>
/// One answer, start to end, read like llama.cpp's simple example: images → tiles → vision features; prompt → ids →
/// embeddings with the features spliced in at the <c>&lt;IMG_CONTEXT&gt;</c> positions; prefill; then
/// sample → stop check → emit → step, one token at a time with the KV cache.
/// The model's compute lock is held for one graph run at a time, so concurrent conversations interleave step by step
/// and each gets exactly what it would get alone.
/// </summary>
internal sealed class Generator(Conversation conversation, string question, IReadOnlyList<ImageInput> images, GenerationOptions options)
{
    private readonly InternVLModel _model = conversation.Model;

    /// <summary>The question as recorded in the history (placeholders added by the prompt builder).</summary>
    public string Question { get; private set; } = question;

    public async IAsyncEnumerable<GenerationUpdate> RunAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        cancellationToken.ThrowIfCancellationRequested();

        // 1. Images: for every image not seen before in this conversation, its features from the model's image cache
        //    (a hash and a lookup), else decode it and plan its grid.
        var allImages = new List<ImageInput>(conversation.ImagesBefore());
        allImages.AddRange(images);
        var pending = new List<(ImageInput Input, DecodedImage Image, bool Owned, DynamicTiler Tiler, UInt128? Key)>();
        var tilesPerImage = new int[allImages.Count];
        int cachedImages = 0;
        try
        {
            for (int i = 0; i < allImages.Count; i++)
            {
                if (conversation.TryGetPrepared(allImages[i], out var known))
                {
                    tilesPerImage[i] = known.Grid.TileCount;
                    cachedImages++;
                    continue;
                }
                var tiler = _model.Tiler(allImages[i].MaxTiles ?? options.MaxTiles);
                var (key, cached) = _model.LookUpFeatures(allImages[i], options.ImageDecoding, tiler);
                if (cached is not null)
                {
                    conversation.Remember(allImages[i], cached);
                    tilesPerImage[i] = cached.Grid.TileCount;
                    cachedImages++;
                    continue;
                }
                var decoded = allImages[i].Decode(options.ImageDecoding, out bool owned);
                pending.Add((allImages[i], decoded, owned, tiler, key));
                tilesPerImage[i] = tiler.Plan(decoded.Width, decoded.Height).TileCount;
            }

            // 2. The prompt, as chat() builds it, and its ids; refuse before any graph runs if it cannot fit.
            var prompt = conversation.PromptsFor(options).Build(Question, tilesPerImage, conversation.ChatHistory());
            Question = prompt.Question;
            var ids = new List<int>();
            _model.Tokenizer.Encode(prompt.Query, ids);
            options.PromptEncoded?.Invoke(ids);
            int window = _model.ContextWindow;
            if (ids.Count >= window) throw new ContextWindowExceededException(ids.Count, prompt.ImageTokenCount, window);
            int maxNewTokens = Math.Min(options.MaxNewTokens, window - ids.Count);

            // 3. Vision: tile and encode the new images (one graph run per image, all its tiles batched).
            var preprocess = clock.Elapsed;
            var vision = TimeSpan.Zero;
            if (pending.Count > 0) options.StageStarted?.Invoke("vision");
            foreach (var (input, image, _, tiler, key) in pending)
            {
                // The same image twice in one request, or encoded by another request meanwhile: encoded once (the wait
                // for another request's features counts as vision).
                var start = clock.Elapsed;
                var (features, tiling, cached) = await _model.EncodeAsync(image, tiler, key, cancellationToken).ConfigureAwait(false);
                preprocess += tiling;
                vision += clock.Elapsed - start - tiling;
                if (cached) cachedImages++;
                conversation.Remember(input, features);
            }
            DisposeOwned(pending);
            pending.Clear();

            // 4. Prefill (what a kept KV cache does not already hold: embeddings, with image features in place of the
            // <IMG_CONTEXT> rows), then decode token by token.
            var usage = new GenerationUsage(ids.Count, prompt.ImageTokenCount, 0) { CachedImages = cachedImages, Images = allImages.Count };
            await foreach (var update in DecodeAsync(ids, allImages, Sequence(ids, allImages), usage, maxNewTokens, clock, preprocess, vision, cancellationToken).ConfigureAwait(false))
                yield return update;
        }
        finally
        {
            DisposeOwned(pending);
        }
    }

    /// <summary>What the prompt's positions hold, for prefix reuse; null when reuse is off or an image has no identity.</summary>
    private PromptSequence? Sequence(List<int> ids, List<ImageInput> allImages)
    {
        if (!_model.PrefixCache.Enabled) return null;
        var keyed = new (UInt128 Key, int Tokens)[allImages.Count];
        for (int i = 0; i < keyed.Length; i++)
        {
            conversation.TryGetPrepared(allImages[i], out var features);
            if (features.CacheKey is not { } key) return null;
            keyed[i] = (key, features.TokenCount);
        }
        return new PromptSequence([.. ids], keyed);
    }

    private async IAsyncEnumerable<GenerationUpdate> DecodeAsync(List<int> ids, List<ImageInput> allImages, PromptSequence? sequence, GenerationUsage usage, int maxNewTokens,
        Stopwatch clock, TimeSpan preprocess, TimeSpan vision, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var language = _model.Language;
        int promptTokens = ids.Count, capacity = promptTokens + maxNewTokens;
        // A kept cache grows by a copy when a longer conversation needs more room: room in steps of 256 positions spares most copies.
        var cache = sequence is null
            ? language.CreateCache(capacity)
            : _model.PrefixCache.Acquire(sequence, Math.Min(_model.ContextWindow, (capacity + 255) / 256 * 256), language);
        int cachedTokens = cache.Length;
        var generated = new List<int>();
        // The per-request buffers of the prompt's rows and of one position's logits come from the request pools: at the
        // 1B shape a 13-tile prompt's rows are 12.7 MB and the logits 0.6 MB, which as new arrays were large-object-heap
        // garbage on every request.
        int hidden = language.HiddenSize, newRows = promptTokens - cachedTokens;
        float[] logitsBuffer = IO.RequestBuffers.Floats.Rent(language.VocabSize);
        var logits = logitsBuffer.AsMemory(0, language.VocabSize);
        try
        {
            var sampler = Sampler.Create(options.Sampling);
            var detokenizer = _model.Tokenizer.CreateStreamingDetokenizer(options.SkipSpecialTokens);
            var stops = new StopSequenceMatcher(options.StopSequences);
            var text = new System.Text.StringBuilder();
            var step = new float[hidden];

            options.StageStarted?.Invoke("prefill");
            var prefillStart = clock.Elapsed;
            float[] embedsBuffer = IO.RequestBuffers.Floats.Rent(newRows * hidden);
            try
            {
                var embeds = embedsBuffer.AsMemory(0, newRows * hidden);
                await _model.RunExclusiveAsync(() =>
                {
                    Embed(ids, allImages, cachedTokens, embeds.Span);
                    language.Forward(embeds, cache, logits, 1, cancellationToken);
                }, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                IO.RequestBuffers.Floats.Return(embedsBuffer);
            }
            var prefill = clock.Elapsed - prefillStart;
            var decodeStart = clock.Elapsed;
            TimeSpan firstToken = default;
            var finish = FinishReason.Length;

            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (generated.Count < options.MinNewTokens)
                    foreach (int stop in _model.StopTokenIds) logits.Span[stop] = float.NegativeInfinity;
                int token = sampler.Sample(logits.Span);
                sampler.Accept(token);
                generated.Add(token);
                if (generated.Count == 1) firstToken = clock.Elapsed;
                if (_model.StopTokenIds.Contains(token))
                {
                    finish = FinishReason.Stop;
                    break;
                }
                string piece = stops.Push(detokenizer.Append(token), out bool stopped);
                text.Append(piece);
                yield return new GenerationUpdate(piece, token, null);
                if (stopped)
                {
                    finish = FinishReason.StopSequence;
                    break;
                }
                if (generated.Count >= maxNewTokens) break;

                await _model.RunExclusiveAsync(() =>
                {
                    _model.Embeddings.Lookup([token], step);
                    language.Forward(step, cache, logits, 1, cancellationToken);
                }, cancellationToken).ConfigureAwait(false);
            }

            // Whatever the detokenizer and the stop matcher still hold belongs to the answer (unless a stop string ended it).
            string tail = finish == FinishReason.StopSequence ? "" : stops.Push(detokenizer.Flush(), out _) + stops.Flush();
            text.Append(tail);
            var decode = clock.Elapsed - decodeStart;
            var timings = new GenerationTimings(preprocess, vision, prefill, decode, firstToken);
            yield return new GenerationUpdate(tail, null, new GenerationResult(text.ToString(), generated,
                finish, usage with { CompletionTokens = generated.Count, CachedPromptTokens = cachedTokens }, timings));
        }
        finally
        {
            IO.RequestBuffers.Floats.Return(logitsBuffer);
            // The cache holds the prompt and the answer tokens fed back (the last one sampled never is): keep it for the next request.
            if (sequence is null)
            {
                cache.Dispose();
            }
            else
            {
                var held = new int[cache.Length];
                ids.CopyTo(0, held, 0, Math.Min(ids.Count, held.Length));
                if (held.Length > ids.Count) generated.CopyTo(0, held, ids.Count, held.Length - ids.Count);
                _model.PrefixCache.Retain(cache, sequence with { Tokens = held });
            }
        }
    }

    /// <summary>
    /// Writes into <paramref name="embeds"/> the rows of <paramref name="ids"/> from position <paramref name="from"/> on
    /// (those before it are in the kept KV cache): token embeddings, with each <c>&lt;IMG_CONTEXT&gt;</c> row replaced by
    /// the next image feature row, images in order.
    /// </summary>
    private void Embed(List<int> ids, List<ImageInput> allImages, int from, Span<float> embeds)
    {
        int hidden = _model.Language.HiddenSize, context = _model.Manifest.SpecialTokens.ImageContext;
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids);
        _model.Embeddings.Lookup(span[from..], embeds);
        int image = 0, row = 0;
        ReadOnlyMemory<float>? features = null;
        for (int position = 0; position < span.Length; position++)
        {
            if (span[position] != context) continue;
            while (features is null || row * hidden >= features.Value.Length)
            {
                if (image >= allImages.Count)
                    throw new InvalidOperationException("the prompt has more <IMG_CONTEXT> tokens than the images have feature rows");
                conversation.TryGetPrepared(allImages[image++], out var prepared);
                features = prepared.Values;
                row = 0;
            }
            if (position >= from) features.Value.Span.Slice(row * hidden, hidden).CopyTo(embeds.Slice((position - from) * hidden, hidden));
            row++;
        }
        if (image != allImages.Count || (features is not null && row * hidden != features.Value.Length))
            throw new InvalidOperationException("the prompt's <IMG_CONTEXT> tokens do not match the images' feature rows");
    }

    private static void DisposeOwned(List<(ImageInput Input, DecodedImage Image, bool Owned, DynamicTiler Tiler, UInt128? Key)> pending)
    {
        foreach (var p in pending)
            if (p.Owned) p.Image.Dispose();
    }
}
