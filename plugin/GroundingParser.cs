using System.Globalization;
using System.Text.RegularExpressions;

namespace InternVit.SK.Plugin;

/// <summary>
/// Reads boxes from InternVL's grounding output. The model writes
/// <c>&lt;ref&gt;phrase&lt;/ref&gt;&lt;box&gt;[[x1, y1, x2, y2], …]&lt;/box&gt;</c> with coordinates normalized to 0–1000;
/// decoded with special tokens skipped (what <c>chat()</c> returns) the tags vanish and only <c>phrase[[x1, y1, x2, y2]]</c>
/// remains. Both are read: every <c>[x1, y1, x2, y2]</c> quadruple (single or double brackets, as the official RefCOCO
/// evaluation's pattern <c>\[*\[(.*?),(.*?),(.*?),(.*?)\]\]*</c> allows) is a box, labelled by the nearest
/// <c>&lt;ref&gt;</c> before it, else by the phrase asked for. Coordinates are clamped to 0–1000, ordered, and scaled
/// to the original image as the evaluation does (<c>/ 1000 × width</c>, <c>/ 1000 × height</c>).
/// Source: OpenGVLab/InternVL internvl_chat/eval/refcoco/evaluate_grounding.py.
/// </summary>
public static partial class GroundingParser
{
    /// <summary>The side of InternVL's normalized coordinate square.</summary>
    public const int NormalizedScale = 1000;

    [GeneratedRegex(@"<ref>(?<label>.*?)</ref>|\[\s*(?<x1>-?\d+(?:\.\d+)?)\s*,\s*(?<y1>-?\d+(?:\.\d+)?)\s*,\s*(?<x2>-?\d+(?:\.\d+)?)\s*,\s*(?<y2>-?\d+(?:\.\d+)?)\s*\]",
        RegexOptions.Singleline | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Pattern();

    /// <summary>The boxes in <paramref name="answer"/>, in pixels of a <paramref name="width"/> × <paramref name="height"/> image.</summary>
    /// <param name="answer">The model's output, with or without its special tokens.</param>
    /// <param name="width">Width of the original image (after EXIF orientation).</param>
    /// <param name="height">Height of the original image.</param>
    /// <param name="defaultLabel">The label of boxes not preceded by a <c>&lt;ref&gt;</c> (the phrase asked for).</param>
    public static IReadOnlyList<LocatedBox> Parse(string answer, int width, int height, string defaultLabel)
    {
        ArgumentNullException.ThrowIfNull(answer);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        var boxes = new List<LocatedBox>();
        string label = defaultLabel;
        foreach (Match match in Pattern().Matches(answer))
        {
            if (match.Groups["label"].Success)
            {
                string named = match.Groups["label"].Value.Trim();
                label = named.Length > 0 ? named : defaultLabel;
                continue;
            }
            double x1 = Normalized(match, "x1"), y1 = Normalized(match, "y1"), x2 = Normalized(match, "x2"), y2 = Normalized(match, "y2");
            if (x1 > x2) (x1, x2) = (x2, x1);
            if (y1 > y2) (y1, y2) = (y2, y1);
            boxes.Add(new LocatedBox(ToPixels(x1, width), ToPixels(y1, height), ToPixels(x2, width), ToPixels(y2, height), label));
        }
        return boxes;
    }

    private static double Normalized(Match match, string group) =>
        Math.Clamp(double.Parse(match.Groups[group].ValueSpan, NumberStyles.Float, CultureInfo.InvariantCulture), 0, NormalizedScale);

    private static int ToPixels(double normalized, int size) => (int)Math.Round(normalized / NormalizedScale * size, MidpointRounding.AwayFromZero);
}
