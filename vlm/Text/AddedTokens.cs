using System.Buffers;

namespace InternVit.SK.Text;

/// <summary>
/// A token added on top of the BPE vocabulary (<c>added_tokens</c> in tokenizer.json, <c>added_tokens_decoder</c> in
/// tokenizer_config.json). <paramref name="Special"/> tokens are dropped by <c>skip_special_tokens</c>;
/// <paramref name="Normalized"/> tokens are matched in the normalized text instead of the raw text.
/// </summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool Normalized);

/// <summary>
/// Finds added tokens in text the way Hugging Face's <c>AddedVocabulary</c> does: leftmost-longest match over all
/// tokens of one kind (Aho-Corasick <c>LeftmostLongest</c>), before any normalization or pre-tokenization.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;
    private readonly SearchValues<char> _firstChars;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        var groups = new Dictionary<char, List<AddedToken>>();
        foreach (var token in tokens)
        {
            if (token.Content.Length == 0) continue;
            if (!groups.TryGetValue(token.Content[0], out var list)) groups[token.Content[0]] = list = [];
            list.Add(token);
        }
        _byFirstChar = new Dictionary<char, AddedToken[]>();
        foreach (var (first, list) in groups)
        {
            list.Sort((a, b) => b.Content.Length.CompareTo(a.Content.Length));
            _byFirstChar[first] = [.. list];
        }
        _firstChars = SearchValues.Create([.. _byFirstChar.Keys]);
        IsEmpty = _byFirstChar.Count == 0;
    }

    /// <summary>Whether there is nothing to match.</summary>
    public bool IsEmpty { get; }

    /// <summary>The leftmost-longest match at or after <paramref name="from"/>, or false.</summary>
    public bool TryFind(ReadOnlySpan<char> text, int from, out int start, out AddedToken token)
    {
        int i = from;
        while (i < text.Length)
        {
            int next = text[i..].IndexOfAny(_firstChars);
            if (next < 0) break;
            i += next;
            foreach (var candidate in _byFirstChar[text[i]])
            {
                if (text[i..].StartsWith(candidate.Content, StringComparison.Ordinal))
                {
                    start = i;
                    token = candidate;
                    return true;
                }
            }
            i++;
        }
        start = -1;
        token = null!;
        return false;
    }
}
