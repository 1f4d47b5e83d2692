namespace InternVit.SK.Generation.Sampling;

/// <summary>
/// HF <c>RepetitionPenaltyLogitsProcessor</c> (normalize=False): for each distinct token seen, a logit below 0 is
/// multiplied by the penalty and any other is divided by it, once per token however often it occurred. Only the
/// tokens passed to <see cref="Accept"/> count: InternVL's <c>chat()</c> calls <c>generate</c> with
/// <c>inputs_embeds</c> only, so HF's <c>input_ids</c> hold just the tokens generated so far, never the prompt.
/// </summary>
internal sealed class RepetitionPenaltyProcessor : ILogitsProcessor
{
    private readonly float _penalty;
    private bool[] _seen = [];
    private int[] _distinct = [];
    private int _count;

    public RepetitionPenaltyProcessor(float penalty)
    {
        if (!float.IsFinite(penalty) || penalty <= 0) throw new ArgumentOutOfRangeException(nameof(penalty), penalty, "must be > 0");
        _penalty = penalty;
    }

    /// <summary>Distinct tokens recorded so far.</summary>
    public int DistinctCount => _count;

    public void Apply(Span<float> logits)
    {
        EnsureCapacity(logits.Length);
        for (int i = 0; i < _count; i++)
        {
            int token = _distinct[i];
            if ((uint)token >= (uint)logits.Length) continue;
            float score = logits[token];
            logits[token] = score < 0 ? score * _penalty : score / _penalty;
        }
    }

    public void Accept(int token)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        EnsureCapacity(token + 1);
        if (_seen[token]) return;
        _seen[token] = true;
        _distinct[_count++] = token;
    }

    public void Reset()
    {
        for (int i = 0; i < _count; i++) _seen[_distinct[i]] = false;
        _count = 0;
    }

    /// <summary>Sizes both tables to the vocabulary on the first step, so that later steps never allocate.</summary>
    private void EnsureCapacity(int size)
    {
        if (_seen.Length >= size) return;
        Array.Resize(ref _seen, size);
        Array.Resize(ref _distinct, size);
    }
}
