using InternVit.SK.Plugin;

namespace InternVit.SK.Tests.Plugin;

/// <summary>Boxes from InternVL's grounding output, in the formats the model writes (tags kept, or skipped as chat() decodes).</summary>
public sealed class GroundingParserTests
{
    public static TheoryData<string, int, int, LocatedBox[]> Cases => new()
    {
        // The README's grounding answer: one ref, one box; 0-1000 scaled to a 1000 x 500 image.
        { "<ref>the red car</ref><box>[[100, 200, 300, 400]]</box>", 1000, 500, [new(100, 100, 300, 200, "the red car")] },
        // Several boxes for one ref, then a second ref.
        { "<ref>person</ref><box>[[0, 0, 500, 1000], [500, 0, 1000, 1000]]</box> and <ref>dog</ref><box>[[250, 250, 750, 750]]</box>", 640, 480,
          [new(0, 0, 320, 480, "person"), new(320, 0, 640, 480, "person"), new(160, 120, 480, 360, "dog")] },
        // chat() output with special tokens skipped: the tags are gone, the phrase asked for labels the box.
        { "the red car[[123, 456, 789, 1000]]", 1600, 900, [new(197, 410, 1262, 900, "phrase")] },
        // The RefCOCO evaluation's bare form, single brackets, decimals.
        { "[412.5, 0, 999.9, 250]", 2000, 1000, [new(825, 0, 2000, 250, "phrase")] },
        // Corners given the wrong way round are ordered; out-of-range values are clamped to 0-1000.
        { "<ref>sign</ref><box>[[800, 900, 200, 100]]</box>", 100, 100, [new(20, 10, 80, 90, "sign")] },
        { "<ref>edge</ref><box>[[-5, 0, 1200, 1000]]</box>", 300, 200, [new(0, 0, 300, 200, "edge")] },
        // An empty ref keeps the phrase; a malformed box (three numbers) is not a box; no coordinates, no boxes.
        { "<ref></ref><box>[[0, 0, 1000, 1000]]</box>", 10, 10, [new(0, 0, 10, 10, "phrase")] },
        { "<ref>cat</ref><box>[[1, 2, 3]]</box>", 10, 10, [] },
        { "I cannot find it in the image.", 10, 10, [] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Parses_boxes_and_scales_them_to_the_original_image(string answer, int width, int height, LocatedBox[] expected) =>
        Assert.Equal(expected, GroundingParser.Parse(answer, width, height, "phrase"));

    [Fact]
    public void Refuses_an_empty_image_size() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => GroundingParser.Parse("[[0, 0, 1, 1]]", 0, 10, "x"));
}
