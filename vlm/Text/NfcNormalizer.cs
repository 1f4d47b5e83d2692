using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace InternVit.SK.Text;

/// <summary>
/// Unicode NFC (canonical decomposition, canonical ordering, canonical composition), the <c>NFC</c> normalizer of a
/// tokenizer.json and the <c>unicodedata.normalize("NFC", ...)</c> of the slow Qwen2 tokenizer. Our own implementation
/// because the repository runs with invariant globalization, where <see cref="string.Normalize()"/> leaves non-ASCII
/// text unchanged. Tables: <see cref="UnicodeNormalizationData"/> (Unicode 14); Hangul is algorithmic.
/// <para>
/// <see cref="Instance"/> is the same NFC as a Microsoft.ML.Tokenizers <see cref="Normalizer"/> (what
/// <see cref="Qwen2Tokenizer.Normalizer"/> returns); lone surrogates come out as U+FFFD.
/// </para>
/// </summary>
internal sealed class NfcNormalizer : Normalizer
{
    /// <summary>The one instance (the normalizer has no state).</summary>
    public static readonly NfcNormalizer Instance = new();

    private NfcNormalizer()
    {
    }

    /// <summary>The NFC form of <paramref name="original"/> (the same string when it is NFC already).</summary>
    public override string Normalize(string original)
    {
        ArgumentNullException.ThrowIfNull(original);
        if (IsQuickNfc(original)) return original;
        var builder = new StringBuilder(original.Length);
        Normalize(original, builder);
        return builder.ToString();
    }

    /// <summary>The NFC form of <paramref name="original"/>.</summary>
    public override string Normalize(ReadOnlySpan<char> original)
    {
        if (IsQuickNfc(original)) return original.ToString();
        var builder = new StringBuilder(original.Length);
        Normalize(original, builder);
        return builder.ToString();
    }

    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private sealed class Tables
    {
        public readonly Dictionary<int, (int First, int Second)> Decomposition = new();
        public readonly Dictionary<long, int> Composition = new();
        public readonly Dictionary<int, byte> CombiningClass = new();
        /// <summary>Code points at or above U+0300 that may change under NFC or change a neighbour (quick-check "not yes").</summary>
        public readonly HashSet<int> Unstable = new();

        public Tables()
        {
            var d = UnicodeNormalizationData.Decompositions;
            var excluded = new HashSet<int>();
            foreach (int cp in UnicodeNormalizationData.CompositionExclusions) excluded.Add(cp);
            for (int i = 0; i < d.Length; i += 3)
            {
                int cp = d[i], first = d[i + 1], second = d[i + 2];
                Decomposition[cp] = (first, second);
                Unstable.Add(cp);
                if (second != 0 && !excluded.Contains(cp))
                {
                    Composition[Key(first, second)] = cp;
                    Unstable.Add(second);
                }
            }
            var r = UnicodeNormalizationData.CombiningClassRanges;
            for (int i = 0; i < r.Length; i += 3)
                for (int cp = r[i]; cp <= r[i + 1]; cp++)
                {
                    CombiningClass[cp] = (byte)r[i + 2];
                    Unstable.Add(cp);
                }
            for (int cp = VBase; cp < VBase + VCount; cp++) Unstable.Add(cp);
            for (int cp = TBase + 1; cp < TBase + TCount; cp++) Unstable.Add(cp);
        }
    }

    private static readonly Lazy<Tables> Data = new(() => new Tables());

    private static long Key(int first, int second) => ((long)first << 21) | (uint)second;

    /// <summary>Whether <paramref name="text"/> is certainly NFC already (a quick check, no allocation).</summary>
    public static bool IsQuickNfc(ReadOnlySpan<char> text)
    {
        int i = 0;
        for (; i < text.Length; i++) if (text[i] >= 0x300) break;
        if (i == text.Length) return true;
        var unstable = Data.Value.Unstable;
        while (i < text.Length)
        {
            if (text[i] < 0x300) { i++; continue; }
            Rune.DecodeFromUtf16(text[i..], out var rune, out int used);
            if (unstable.Contains(rune.Value)) return false;
            i += used;
        }
        return true;
    }

    /// <summary>Appends the NFC form of <paramref name="text"/> (valid UTF-16: no lone surrogates) to <paramref name="output"/>.</summary>
    public static void Normalize(ReadOnlySpan<char> text, StringBuilder output)
    {
        if (IsQuickNfc(text))
        {
            output.Append(text);
            return;
        }
        var tables = Data.Value;
        int[] buffer = ArrayPool<int>.Shared.Rent(text.Length * 4 + 8);
        try
        {
            int n = 0;
            for (int i = 0; i < text.Length;)
            {
                Rune.DecodeFromUtf16(text[i..], out var rune, out int used);
                i += used;
                Decompose(rune.Value, tables, ref buffer, ref n);
            }
            CanonicalOrder(buffer.AsSpan(0, n), tables);
            n = Compose(buffer.AsSpan(0, n), tables);
            for (int i = 0; i < n; i++) output.Append(new Rune(buffer[i]));
        }
        finally
        {
            ArrayPool<int>.Shared.Return(buffer);
        }
    }

    private static void Decompose(int cp, Tables tables, ref int[] buffer, ref int n)
    {
        if (n + 4 > buffer.Length)
        {
            var bigger = ArrayPool<int>.Shared.Rent(buffer.Length * 2);
            buffer.AsSpan(0, n).CopyTo(bigger);
            ArrayPool<int>.Shared.Return(buffer);
            buffer = bigger;
        }
        if (cp >= SBase && cp < SBase + SCount)
        {
            int s = cp - SBase;
            buffer[n++] = LBase + s / NCount;
            buffer[n++] = VBase + s % NCount / TCount;
            if (s % TCount != 0) buffer[n++] = TBase + s % TCount;
            return;
        }
        if (tables.Decomposition.TryGetValue(cp, out var d))
        {
            Decompose(d.First, tables, ref buffer, ref n);
            if (d.Second != 0) Decompose(d.Second, tables, ref buffer, ref n);
            return;
        }
        buffer[n++] = cp;
    }

    private static int Ccc(int cp, Tables tables) => cp < 0x300 ? 0 : tables.CombiningClass.GetValueOrDefault(cp);

    /// <summary>Stable insertion sort of each run of non-starters by combining class.</summary>
    private static void CanonicalOrder(Span<int> cps, Tables tables)
    {
        for (int i = 1; i < cps.Length; i++)
        {
            int c = Ccc(cps[i], tables);
            if (c == 0) continue;
            int j = i;
            int cp = cps[i];
            while (j > 0)
            {
                int prev = Ccc(cps[j - 1], tables);
                if (prev <= c) break;
                cps[j] = cps[j - 1];
                j--;
            }
            cps[j] = cp;
        }
    }

    /// <summary>Canonical composition in place; returns the new length.</summary>
    private static int Compose(Span<int> cps, Tables tables)
    {
        if (cps.Length == 0) return 0;
        int starter = Ccc(cps[0], tables) == 0 ? 0 : -1;
        int lastClass = starter == 0 ? 0 : 256;
        int write = 1;
        for (int read = 1; read < cps.Length; read++)
        {
            int cp = cps[read];
            int cc = Ccc(cp, tables);
            if (starter >= 0 && (lastClass < cc || (lastClass == 0 && write - 1 == starter)) && TryCompose(cps[starter], cp, tables, out int composite))
            {
                cps[starter] = composite;
                continue;
            }
            if (cc == 0)
            {
                starter = write;
                lastClass = 0;
            }
            else
            {
                lastClass = cc;
            }
            cps[write++] = cp;
        }
        return write;
    }

    private static bool TryCompose(int first, int second, Tables tables, out int composite)
    {
        if (first >= LBase && first < LBase + LCount && second >= VBase && second < VBase + VCount)
        {
            composite = SBase + ((first - LBase) * VCount + (second - VBase)) * TCount;
            return true;
        }
        if (first >= SBase && first < SBase + SCount && (first - SBase) % TCount == 0 && second > TBase && second < TBase + TCount)
        {
            composite = first + (second - TBase);
            return true;
        }
        return tables.Composition.TryGetValue(Key(first, second), out composite);
    }
}
