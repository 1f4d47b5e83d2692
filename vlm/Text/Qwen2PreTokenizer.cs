using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace InternVit.SK.Text;

/// <summary>
/// The Qwen2 pre-tokenizer: a hand-written scanner equivalent to the Split regex (behaviour <c>Isolated</c>)
/// <code>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</code>
/// as Oniguruma runs it in Hugging Face <c>tokenizers</c>. It walks code points (surrogate pairs are one character),
/// tries the alternatives in order with the regex's backtracking worked out by hand, and never allocates.
/// <list type="bullet">
/// <item><c>\s</c> is Oniguruma's Unicode whitespace: U+0009..U+000D, U+0085 and the categories Zs, Zl, Zp, which is
/// exactly <see cref="Rune.IsWhiteSpace"/>.</item>
/// <item><c>(?i)</c> folds ASCII only here: <c>'S</c> matches, the long s <c>'ſ</c> does not (checked against the
/// reference binding).</item>
/// <item><c>\p{L}</c> and <c>\p{N}</c> use .NET's Unicode categories; they can differ from Oniguruma's tables only
/// for code points assigned in a newer Unicode version than the one Oniguruma was built with.</item>
/// </list>
/// <see cref="Instance"/> is the same scanner as a Microsoft.ML.Tokenizers <see cref="PreTokenizer"/> (what
/// <see cref="Qwen2Tokenizer.PreTokenizer"/> returns).
/// </summary>
internal sealed class Qwen2PreTokenizer : PreTokenizer
{
    /// <summary>The pattern this scanner implements, exactly as tokenizer.json spells it.</summary>
    public const string Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The one instance (the scanner has no state).</summary>
    public static readonly Qwen2PreTokenizer Instance = new();

    private Qwen2PreTokenizer()
    {
    }

    /// <summary>The pre-tokens of <paramref name="text"/> as (offset, length), in order, covering all of it.</summary>
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Split(text);

        static IEnumerable<(int Offset, int Length)> Split(string text)
        {
            for (int at = 0; at < text.Length;)
            {
                int end = NextEnd(text, at);
                yield return (at, end - at);
                at = end;
            }
        }
    }

    /// <summary>The pre-tokens of <paramref name="text"/> as (offset, length), in order, covering all of it.</summary>
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text)
    {
        var splits = new List<(int Offset, int Length)>();
        for (int at = 0; at < text.Length;)
        {
            int end = NextEnd(text, at);
            splits.Add((at, end - at));
            at = end;
        }
        return splits;
    }

    private const byte Other = 0, Letter = 1, Number = 2, Space = 3;

    private static readonly byte[] AsciiClass = BuildAsciiClass();

    private static byte[] BuildAsciiClass()
    {
        var table = new byte[128];
        for (int c = 0; c < 128; c++)
            table[c] = char.IsAsciiLetter((char)c) ? Letter : char.IsAsciiDigit((char)c) ? Number : char.IsWhiteSpace((char)c) ? Space : Other;
        return table;
    }

    /// <summary>The class of the code point at <paramref name="i"/> and its length in UTF-16 units.</summary>
    private static byte ClassAt(ReadOnlySpan<char> text, int i, out int width)
    {
        char c = text[i];
        if (c < 128)
        {
            width = 1;
            return AsciiClass[c];
        }
        Rune rune;
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            rune = new Rune(c, text[i + 1]);
            width = 2;
        }
        else
        {
            rune = char.IsSurrogate(c) ? Rune.ReplacementChar : new Rune(c);
            width = 1;
        }
        if (Rune.IsWhiteSpace(rune)) return Space;
        switch (Rune.GetUnicodeCategory(rune))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                return Letter;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                return Number;
            default:
                return Other;
        }
    }

    private static bool IsLineBreak(char c) => c is '\r' or '\n';

    /// <summary>The end (exclusive) of the pre-token that starts at <paramref name="start"/> (which is below the length).</summary>
    public static int NextEnd(ReadOnlySpan<char> text, int start)
    {
        int i = start;
        char c = text[i];

        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (c == '\'' && i + 1 < text.Length)
        {
            char a = (char)(text[i + 1] | 0x20);
            if (a is 's' or 't' or 'm' or 'd' && text[i + 1] < 128) return i + 2;
            if (i + 2 < text.Length && text[i + 1] < 128 && text[i + 2] < 128)
            {
                char b = (char)(text[i + 2] | 0x20);
                if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
            }
        }

        byte cls = ClassAt(text, i, out int width);

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (cls == Letter) return SkipWhile(text, i + width, Letter);
        if (cls != Number && !IsLineBreak(c) && i + width < text.Length && ClassAt(text, i + width, out _) == Letter)
            return SkipWhile(text, i + width, Letter);

        // \p{N}
        if (cls == Number) return i + width;

        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        if (cls == Other || (c == ' ' && i + 1 < text.Length && ClassAt(text, i + 1, out _) == Other))
        {
            int j = SkipWhile(text, c == ' ' ? i + 1 : i, Other);
            while (j < text.Length && IsLineBreak(text[j])) j++;
            return j;
        }

        // Whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+
        int end = SkipWhile(text, i, Space);
        for (int k = end - 1; k >= i; k--)
            if (IsLineBreak(text[k])) return k + 1;
        if (end < text.Length && end - i > 1) return end - 1; // every whitespace code point is one UTF-16 unit
        return end;
    }

    private static int SkipWhile(ReadOnlySpan<char> text, int i, byte cls)
    {
        while (i < text.Length)
        {
            if (ClassAt(text, i, out int width) != cls) break;
            i += width;
        }
        return i;
    }
}
