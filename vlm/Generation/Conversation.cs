using System.Runtime.CompilerServices;
using InternVit.SK.Text;

namespace InternVit.SK.Generation;

/// <summary>A past exchange: the user's question (with its image placeholders), its images, and the answer.</summary>
/// <param name="Question">The question as it appears in the prompt (e.g. with <c>&lt;image&gt;\n</c> prepended).</param>
/// <param name="Images">Images of this turn, in placeholder order.</param>
/// <param name="Answer">The assistant's answer.</param>
public sealed record ConversationTurn(string Question, IReadOnlyList<ImageInput> Images, string Answer);

/// <summary>
/// A multi-turn conversation with one <see cref="InternVLModel"/>: a system prompt and the turns so far. Each new user
/// turn is answered the way the official <c>chat()</c> does it: the whole history is rendered with the model's template,
/// every image of every turn fills its <c>&lt;image&gt;</c> placeholder in order, and the answer is recorded (stripped)
/// for the next turn, a leading <c>&lt;think&gt;…&lt;/think&gt;</c> block included, as <c>chat()</c> keeps it (in the
/// normal form of <see cref="ThinkingMode.HistoryAnswer"/>). Image features of earlier turns are kept, so they are not encoded again. One generation at a time
/// per conversation; many conversations may share a model.
/// </summary>
public sealed class Conversation
{
    private readonly List<ConversationTurn> _turns = [];
    private readonly Dictionary<ImageInput, ImageFeatures> _prepared = new(ReferenceEqualityComparer.Instance);
    private int _busy;

    internal Conversation(InternVLModel model, string? systemPrompt)
    {
        model.RefuseReservedTokens(systemPrompt, "the system prompt", allowImagePlaceholders: false);
        Model = model;
        SystemPrompt = systemPrompt;
        Prompts = model.CreatePromptBuilder(systemPrompt);
    }

    internal PromptBuilder Prompts { get; }

    /// <summary>The prompt builder of a turn: the conversation's, or with thinking, one with the thinking system message.</summary>
    internal PromptBuilder PromptsFor(GenerationOptions options) =>
        options.Thinking ? Model.CreatePromptBuilder(ThinkingMode.SystemMessage(SystemPrompt)) : Prompts;

    /// <summary>The model answering.</summary>
    public InternVLModel Model { get; }

    /// <summary>The system message (null: the template's default).</summary>
    public string? SystemPrompt { get; }

    /// <summary>The turns so far.</summary>
    public IReadOnlyList<ConversationTurn> History => _turns.AsReadOnly();

    /// <summary>
    /// Adds an exchange that happened elsewhere (e.g. replayed from a chat transcript). With <paramref name="reasoning"/>
    /// (the reasoning of a thinking-mode answer, <see cref="GenerationResult.Reasoning"/>), the answer is recorded as
    /// <see cref="ThinkingMode.HistoryAnswer"/> makes it, the form a generated turn is recorded in; without, as given.
    /// </summary>
    /// <exception cref="ArgumentException">The question's placeholders do not match its images, or a text holds a reserved token.</exception>
    public void AddTurn(string question, IReadOnlyList<ImageInput>? images, string answer, string? reasoning = null)
    {
        images ??= [];
        ArgumentNullException.ThrowIfNull(answer);
        if (reasoning is not null) answer = ThinkingMode.HistoryAnswer(reasoning, answer);
        CheckQuestion(question, images.Count);
        Model.RefuseReservedTokens(answer, "an answer", allowImagePlaceholders: false);
        if (Volatile.Read(ref _busy) != 0) throw new InvalidOperationException("this conversation is generating; add turns before or after");
        _turns.Add(new ConversationTurn(WithPlaceholders(question, images.Count), images, answer));
    }

    /// <summary>Answers <paramref name="text"/> (with <paramref name="images"/>) and records the turn.</summary>
    /// <exception cref="ContextWindowExceededException">The prompt does not fit; nothing was run.</exception>
    /// <exception cref="Imaging.ImageDecodeException">An image cannot be decoded.</exception>
    public async Task<GenerationResult> GenerateAsync(string text, IReadOnlyList<ImageInput>? images = null, GenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        await foreach (var update in StreamAsync(text, images, options, cancellationToken).ConfigureAwait(false))
            if (update.Result is not null) return update.Result;
        throw new InvalidOperationException("generation ended without a result");
    }

    /// <summary>
    /// Answers <paramref name="text"/> as a stream: one update per generated token with the text that became safe to
    /// show, then a final update with the <see cref="GenerationResult"/>. The turn is recorded when the stream completes.
    /// </summary>
    public async IAsyncEnumerable<GenerationUpdate> StreamAsync(string text, IReadOnlyList<ImageInput>? images = null, GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        images ??= [];
        options ??= new GenerationOptions();
        options.Validate();
        CheckQuestion(text, images.Count);
        if (Interlocked.Exchange(ref _busy, 1) != 0)
            throw new InvalidOperationException("this conversation is already generating; start another conversation for concurrent requests");
        try
        {
            string question = WithPlaceholders(text, images.Count);
            var generator = new Generator(this, question, images, options);
            var splitter = new ReasoningSplitter();
            bool recorded = false;
            try
            {
                await foreach (var update in generator.RunAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (update.Result is { } result)
                    {
                        // The last piece, then whatever the splitter still holds. The result is the split of the whole
                        // text, which the streamed pieces add up to (the split does not depend on where pieces end).
                        var (r, a) = splitter.Push(update.Text);
                        var (rest, tail) = splitter.Flush();
                        var (wholeReasoning, answer) = ReasoningSplitter.Split(result.Text);
                        var split = result with { Text = answer, Reasoning = wholeReasoning };
                        _turns.Add(new ConversationTurn(generator.Question, images, split.Reasoning is null
                            ? Prompts.ExtractResponse(split.Text)
                            : ThinkingMode.HistoryAnswer(split.Reasoning, Prompts.ExtractResponse(split.Text))));
                        recorded = true;
                        yield return new GenerationUpdate(a + tail, null, split) { Reasoning = r + rest };
                    }
                    else
                    {
                        var (r, a) = splitter.Push(update.Text);
                        yield return update.Text.Length == a.Length && r.Length == 0 ? update : new GenerationUpdate(a, update.TokenId, null) { Reasoning = r };
                    }
                }
            }
            finally
            {
                // A turn that did not complete leaves nothing behind: its images' features are dropped too.
                if (!recorded)
                    foreach (var image in images) _prepared.Remove(image);
            }
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>
    /// A question may not forge the prompt's structure, and when it places images itself (<c>&lt;image&gt;</c>), it places
    /// exactly the images of its turn — a stray placeholder would otherwise take an image of a later turn.
    /// </summary>
    private void CheckQuestion(string question, int images)
    {
        Model.RefuseReservedTokens(question, "the question", allowImagePlaceholders: true);
        int placeholders = PromptBuilder.CountPlaceholders(question);
        if (placeholders > 0 && placeholders != images)
            throw new ArgumentException($"the question has {placeholders} '{PromptBuilder.ImagePlaceholder}' placeholder(s) for {images} image(s)", nameof(question));
    }

    /// <summary>Every image of the conversation in placeholder order: earlier turns first.</summary>
    internal IEnumerable<ImageInput> ImagesBefore()
    {
        foreach (var turn in _turns)
            foreach (var image in turn.Images) yield return image;
    }

    internal IReadOnlyList<ChatTurn> ChatHistory()
    {
        var history = new ChatTurn[_turns.Count];
        for (int i = 0; i < history.Length; i++) history[i] = new ChatTurn(_turns[i].Question, _turns[i].Answer);
        return history;
    }

    internal bool TryGetPrepared(ImageInput image, out ImageFeatures prepared) => _prepared.TryGetValue(image, out prepared!);

    internal void Remember(ImageInput image, ImageFeatures prepared) => _prepared[image] = prepared;

    /// <summary>
    /// A turn with images and no placeholder gets them in front, as chat() gives a first question (<c>&lt;image&gt;\n</c>,
    /// or <c>Image-i: &lt;image&gt;\n</c> lines for several); later turns follow the same rule.
    /// </summary>
    private static string WithPlaceholders(string question, int images) =>
        images == 0 || question.Contains(PromptBuilder.ImagePlaceholder, StringComparison.Ordinal)
            ? question
            : PromptBuilder.ImagePrefix(images) + question;
}
