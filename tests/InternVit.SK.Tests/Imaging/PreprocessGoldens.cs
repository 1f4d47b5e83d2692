using System.Security.Cryptography;
using System.Text.Json.Nodes;
using InternVit.SK.Checkpoints;

namespace InternVit.SK.Tests.Imaging;

/// <summary>
/// The image preprocessing goldens copied into tests/fixtures (see tests/fixtures/README.md): source images,
/// per-image JSON (grid, tile SHA-256s, pixel_values statistics) and a few gzip-compressed safetensors.
/// </summary>
internal static class PreprocessGoldens
{
    public static string Images => Path.Combine(TestPaths.Fixtures, "images");

    public static string Folder => Path.Combine(TestPaths.Fixtures, "goldens", "preprocess");

    public static string ImagePath(string id) => Path.Combine(Images, (string)Catalog(id)["file"]!);

    /// <summary>The entry of images.json for <paramref name="id"/>.</summary>
    public static JsonNode Catalog(string id)
    {
        var images = JsonNode.Parse(File.ReadAllText(Path.Combine(Images, "images.json")))!["images"]!.AsArray();
        foreach (var image in images)
            if ((string?)image!["id"] == id) return image;
        throw new ArgumentException($"no image '{id}' in images.json");
    }

    /// <summary><c>&lt;id&gt;.json</c>.</summary>
    public static JsonNode Meta(string id) => JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, id + ".json")))!;

    /// <summary>The golden tile hashes of <paramref name="id"/>.</summary>
    public static string[] TileHashes(string id) =>
        Meta(id)["tile_sha256"]!.AsArray().Select(h => (string)h!).ToArray();

    /// <summary>One tensor of a gzip-compressed safetensors golden: its shape and raw bytes.</summary>
    public static (long[] Shape, byte[] Bytes) ReadGz(string fileName, string tensor)
    {
        using var st = Goldens.Open(Path.Combine(Folder, fileName));
        var info = st.GetInfo(tensor);
        Assert.Equal(SafetensorsDtype.U8, info.Dtype);
        return (info.Shape, st.GetBytes(tensor).ToArray());
    }

    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>How many bytes are equal and the largest absolute difference.</summary>
    public static (long Equal, int MaxDifference) Compare(ReadOnlySpan<byte> actual, ReadOnlySpan<byte> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        long equal = 0;
        int max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            int d = Math.Abs(actual[i] - expected[i]);
            if (d == 0) equal++;
            else max = Math.Max(max, d);
        }
        return (equal, max);
    }
}
