using InternVit.SK.Imaging.Codecs;

namespace InternVit.SK.Tests.Imaging.Codecs;

public class RgbaToRgbTests
{
    /// <summary>The in-place narrowing (4 pixels at a time, then one by one) against a plain copy, for every tail length.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(1001)]
    public void Narrowing_in_place_equals_a_copy(int pixels)
    {
        var rgba = new byte[pixels * 4];
        new Random(pixels).NextBytes(rgba);
        foreach (bool composite in new[] { false, true })
        {
            var expected = new byte[pixels * 3];
            for (int i = 0; i < pixels; i++)
            {
                int a = rgba[4 * i + 3];
                for (int c = 0; c < 3; c++)
                {
                    int v = rgba[4 * i + c];
                    expected[3 * i + c] = composite ? (byte)Math.Round((v * a + 255.0 * (255 - a)) / 255.0, MidpointRounding.AwayFromZero) : (byte)v;
                }
            }
            var buffer = (byte[])rgba.Clone();
            RgbaToRgb.NarrowInPlace(buffer, pixels, composite);
            Assert.Equal(expected, buffer[..(pixels * 3)]);
        }
    }
}
