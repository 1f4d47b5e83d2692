using System.Diagnostics;
using InternVit.SK.Generation;
using InternVit.SK.Plugin;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Cli;

/// <summary>One turn of <see cref="ChatBench"/>.</summary>
internal sealed record ChatBenchTurn(int Turn, string Question, double TimeToFirstTokenMs, double FirstTextMs, double TotalMs, int PromptTokens, int CachedPromptTokens,
    int Images, int CachedImages, double VisionMs, double PrefillMs, long RssBytes, bool? SameTokensAsCachesOff);

/// <summary>The turns of <see cref="ChatBench"/> in one mode.</summary>
internal sealed record ChatBenchRun(string Mode, IReadOnlyList<ChatBenchTurn> Turns, long PeakRssBytes);

/// <summary>
/// <c>internvl bench --scenario chat</c>: a chat the way an OpenAI client holds one — the whole history sent again each
/// turn, through the public <see cref="IChatClient"/> — three questions about one 1024×768 photo (12 + 1 tiles), then a
/// new photo in the same chat; once with the model's caches off (every image encoded and every prompt prefilled in
/// full, the behaviour before issue 23) and once with the default caches. Reports time to first token, the prompt tokens
/// and images that came from a cache, and resident memory per turn. The model is <see cref="ModelBench"/>'s random-weight
/// checkpoint at real shapes (speed does not depend on the weight values); answers are <c>GenTokens</c> long. Each turn of
/// the cached run also says whether its answer's token ids equal the uncached run's for that turn.
/// </summary>
internal sealed class ChatBench(ModelBenchOptions options, TextWriter log)
{
    private static readonly string[] Questions =
    [
        "Describe this photo.",
        "What colours dominate it?",
        "Is there any text in it?",
        "And this one: how does it differ from the first?",
    ];

    public IReadOnlyList<ChatBenchRun> Run()
    {
        var bench = new ModelBench(options, log);
        string modelDir = bench.EnsureConvertedModel();
        byte[] photo = ModelBench.SyntheticJpeg(1024, 768, seed: 5), newPhoto = ModelBench.SyntheticJpeg(1024, 768, seed: 6);
        var runs = new List<ChatBenchRun>();
        var uncachedAnswers = new List<IReadOnlyList<int>>();   // the caches-off run's token ids per turn, to compare the cached run's with
        foreach (var (mode, modelOptions) in new[]
        {
            ("caches off", ModelBench.Uncached(options.Threads)),
            ("caches on", new InternVLModelOptions { IntraOpThreads = options.Threads }),
        })
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            ModelBench.ResetPeakRss();
            using var client = InternVLChatClient.LoadAsync(modelDir, modelOptions).GetAwaiter().GetResult();
            WarmUp(client);
            var history = new List<ChatMessage>();
            var turns = new List<ChatBenchTurn>();
            for (int turn = 0; turn < Questions.Length; turn++)
            {
                var user = new ChatMessage(ChatRole.User, Questions[turn]);
                if (turn == 0) user.Contents.Add(new DataContent(photo, "image/jpeg"));
                if (turn == 3) user.Contents.Add(new DataContent(newPhoto, "image/jpeg"));
                history.Add(user);
                var (answer, result) = Ask(client, history, out double firstTextMs, out double totalMs);
                history.Add(new ChatMessage(ChatRole.Assistant, answer));
                using var process = Process.GetCurrentProcess();
                var t = new ChatBenchTurn(turn + 1, Questions[turn], result.Timings.TimeToFirstToken.TotalMilliseconds, firstTextMs, totalMs, result.Usage.PromptTokens, result.Usage.CachedPromptTokens,
                    result.Usage.Images, result.Usage.CachedImages, result.Timings.Vision.TotalMilliseconds, result.Timings.Prefill.TotalMilliseconds, process.WorkingSet64,
                    runs.Count == 0 ? null : result.TokenIds.SequenceEqual(uncachedAnswers[turn]));
                if (runs.Count == 0) uncachedAnswers.Add(result.TokenIds);
                log.WriteLine($"{mode}, turn {t.Turn}: first token {t.TimeToFirstTokenMs:0} ms (first text {t.FirstTextMs:0} ms); {t.CachedPromptTokens}/{t.PromptTokens} prompt tokens cached; " +
                              $"{t.CachedImages}/{t.Images} images cached; vision {t.VisionMs:0} ms, prefill {t.PrefillMs:0} ms; RSS {t.RssBytes >> 20} MiB" +
                              (t.SameTokensAsCachesOff is bool same ? $"; answer tokens {(same ? "equal" : "DIFFER from")} the caches-off run's" : ""));
                turns.Add(t);
            }
            using var self = Process.GetCurrentProcess();
            self.Refresh();
            runs.Add(new ChatBenchRun(mode, turns, self.PeakWorkingSet64));
        }
        return runs;
    }

    /// <summary>One small image and a question under another system prompt: the graphs' first runs, without sharing the chat's prefix.</summary>
    private void WarmUp(InternVLChatClient client)
    {
        byte[] tile = ModelBench.SyntheticJpeg(448, 448, seed: 7);
        ChatMessage[] messages =
        [
            new(ChatRole.System, "Warm-up."),
            new(ChatRole.User, [new TextContent("What is this?"), new DataContent(tile, "image/jpeg")]),
        ];
        Ask(client, messages, out _, out _);
    }

    /// <summary>Streams one answer; the time from the call to the first update with text (0: none had text), and to the end.</summary>
    private (string Answer, GenerationResult Result) Ask(InternVLChatClient client, IEnumerable<ChatMessage> messages, out double firstTextMs, out double totalMs)
    {
        // Random weights rarely end an answer early; the length is fixed by GenTokens.
        var chatOptions = new ChatOptions { MaxOutputTokens = options.GenTokens };
        var clock = Stopwatch.StartNew();
        double first = 0;
        var text = new System.Text.StringBuilder();
        GenerationResult? result = null;
        var stream = client.GetStreamingResponseAsync(messages, chatOptions).GetAsyncEnumerator();
        try
        {
            while (stream.MoveNextAsync().AsTask().GetAwaiter().GetResult())
            {
                var update = stream.Current;
                if (first == 0 && update.Text.Length > 0) first = clock.Elapsed.TotalMilliseconds;
                text.Append(update.Text);
                if (update.RawRepresentation is GenerationResult r) result = r;
            }
        }
        finally
        {
            stream.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        totalMs = clock.Elapsed.TotalMilliseconds;
        firstTextMs = first;
        return (text.ToString(), result ?? throw new InvalidOperationException("the stream ended without a result"));
    }
}
