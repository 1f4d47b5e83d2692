namespace InternVit.SK.Generation;

/// <summary>
/// Finds stop strings in streamed text. Matching runs on the decoded text, not on single tokens, so a stop string
/// spread over several tokens ("&lt;|im" + "_end|&gt;") is found. <see cref="Push"/> returns only text that can no
/// longer become part of a stop string: a tail that is the start of one is held back until the next piece settles it.
/// When a stop string completes, the text before it is returned and nothing after; the stop string itself is never
/// returned. When several complete in the same piece, the one that starts first wins. Empty stop strings are ignored;
/// with none the matcher passes text through. One instance per sequence; not thread-safe.
/// </summary>
internal sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private readonly int _longest;
    private char[] _pending = new char[64];
    private int _length;

    /// <summary>Matches the given stop strings (null or empty entries are ignored).</summary>
    public StopSequenceMatcher(IEnumerable<string?>? stopStrings)
    {
        var stops = new List<string>();
        foreach (var stop in stopStrings ?? [])
            if (!string.IsNullOrEmpty(stop)) stops.Add(stop);
        _stops = [.. stops];
        foreach (var stop in _stops) _longest = Math.Max(_longest, stop.Length);
    }

    /// <summary>Whether a stop string has completed; every later <see cref="Push"/> returns "".</summary>
    public bool Stopped { get; private set; }

    /// <summary>
    /// Adds the next piece of decoded text and returns the text that is safe to emit now (possibly ""). Sets
    /// <paramref name="stopped"/> when a stop string has completed; the returned text then ends where it starts.
    /// </summary>
    public string Push(string piece, out bool stopped)
    {
        ArgumentNullException.ThrowIfNull(piece);
        stopped = Stopped;
        if (Stopped || piece.Length == 0) return "";
        if (_stops.Length == 0) return piece;

        Append(piece);
        var text = _pending.AsSpan(0, _length);
        int stopAt = -1;
        foreach (var stop in _stops)
        {
            int at = text.IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (at >= 0 && (stopAt < 0 || at < stopAt)) stopAt = at;
        }
        if (stopAt >= 0)
        {
            Stopped = stopped = true;
            _length = 0;
            return new string(text[..stopAt]);
        }

        int safe = _length - HeldBackLength(text);
        if (safe == 0) return "";
        // Nothing was held before and nothing is held now: the piece itself is the answer.
        string result = safe == piece.Length && _length == piece.Length ? piece : new string(text[..safe]);
        text[safe..].CopyTo(_pending);
        _length -= safe;
        return result;
    }

    /// <summary>Ends the sequence: returns the held-back text ("" after a stop). The matcher is then empty.</summary>
    public string Flush()
    {
        string rest = new(_pending, 0, _length);
        _length = 0;
        return rest;
    }

    /// <summary>The length of the longest tail of <paramref name="text"/> that is a proper prefix of a stop string.</summary>
    private int HeldBackLength(ReadOnlySpan<char> text)
    {
        for (int tail = Math.Min(text.Length, _longest - 1); tail > 0; tail--)
        {
            var suffix = text[^tail..];
            foreach (var stop in _stops)
                if (stop.Length > tail && stop.AsSpan().StartsWith(suffix, StringComparison.Ordinal)) return tail;
        }
        return 0;
    }

    private void Append(string piece)
    {
        int needed = _length + piece.Length;
        if (_pending.Length < needed) Array.Resize(ref _pending, Math.Max(needed, _pending.Length * 2));
        piece.CopyTo(_pending.AsSpan(_length));
        _length = needed;
    }
}
