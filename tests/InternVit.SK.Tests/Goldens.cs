using InternVit.SK.Checkpoints;

namespace InternVit.SK.Tests;

/// <summary>Reading the reference goldens under tests/fixtures/goldens (see that folder's README).</summary>
internal static class Goldens
{
    public static string ModelA(string file) => Model("a", file);

    /// <summary>
    /// A golden of tiny checkpoint <paramref name="checkpoint"/>: goldens/model_a for "a" and "a-hf" (the same weights in
    /// the Hugging Face-native layout), goldens/model_c for "c" and "c-hf".
    /// </summary>
    public static string Model(string checkpoint, string file) =>
        Path.Combine(TestPaths.Fixtures, "goldens", "model_" + (checkpoint.EndsWith("-hf", StringComparison.Ordinal) ? checkpoint[..^"-hf".Length] : checkpoint), file);

    public static string Preprocess(string file) => Path.Combine(TestPaths.Fixtures, "goldens", "preprocess", file);

    /// <summary>Opens a golden safetensors file (gunzipped to a temp file first when it ends in .gz).</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!path.EndsWith(".gz", StringComparison.Ordinal)) return SafetensorsFile.Open(path);
        string plain = Path.Combine(Path.GetTempPath(), "internvl-golden-" + Path.GetFileNameWithoutExtension(path) + "-" + Guid.NewGuid().ToString("N"));
        TestPaths.Gunzip(path, plain);
        var opened = SafetensorsFile.Open(plain);
        File.Delete(plain); // the mapping keeps the data alive on Linux
        return opened;
    }

    /// <summary>
    /// The reference's pixel_values for an image, derived from its golden uint8 tiles exactly as the goldens README says:
    /// ((float)u8 / 255f - mean[c]) / std[c], with mean and std rounded to float32 first. Returns [N,3,448,448] and N.
    /// </summary>
    public static (float[] PixelValues, int Tiles) PixelValuesFromTiles(string imageId)
    {
        using var file = Open(Preprocess(imageId + ".tiles_u8.safetensors.gz"));
        var info = file.GetInfo("tiles_u8");
        int n = (int)info.Shape[0], h = (int)info.Shape[1], w = (int)info.Shape[2];
        var u8 = file.GetBytes("tiles_u8");
        float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
        var result = new float[n * 3 * h * w];
        for (int t = 0; t < n; t++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 3; c++)
                        result[((t * 3 + c) * h + y) * w + x] = (u8[((t * h + y) * w + x) * 3 + c] / 255f - mean[c]) / std[c];
        return (result, n);
    }

    /// <summary>Largest |a - b| over two equally long spans.</summary>
    public static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = Math.Abs((double)a[i] - b[i]);
            if (double.IsNaN(d)) return double.NaN;
            if (d > max) max = d;
        }
        return max;
    }
}
