using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using InternVit.SK.Imaging;
using InternVit.SK.Imaging.Tiling;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl bench tiles IMAGE [--iterations N] [--max-tiles N] [--as-jpeg QUALITY]</c>: times decode + tiling into
/// <c>pixel_values</c> (the file is read once, before timing; the float buffer is reused), and reports the median
/// milliseconds and the bytes allocated per iteration on the measuring thread.
/// </summary>
internal static class BenchTilesCommand
{
    public static Command Create()
    {
        var image = new Argument<FileInfo>("IMAGE") { Description = "A JPEG, PNG, WebP, GIF or BMP image." };
        var iterations = new Option<int>("--iterations") { Description = "Timed iterations (default 20), after 3 warm-up runs.", DefaultValueFactory = _ => 20 };
        var maxTiles = new Option<int>("--max-tiles") { Description = "Most grid tiles (default 12).", DefaultValueFactory = _ => 12 };
        var asJpeg = new Option<int?>("--as-jpeg") { Description = "Re-encode the image as a 4:2:0 JPEG of this quality (1..100) first, and time that JPEG." };
        var command = new Command("tiles", "Time decode + dynamic tiling of one image.") { image, iterations, maxTiles, asJpeg };
        command.SetAction(parse =>
        {
            var o = parse.InvocationConfiguration.Output;
            byte[] data = File.ReadAllBytes(parse.GetRequiredValue(image).FullName);
            if (parse.GetValue(asJpeg) is int quality)
            {
                using var source = ImageDecoder.Decode(data);
                data = JpegEncoder.EncodeRgb(source.Pixels, source.Width, source.Height, Math.Clamp(quality, 1, 100));
            }
            var tiler = new DynamicTiler(new TilingOptions { MaxTiles = parse.GetValue(maxTiles) });
            var pixelValues = new float[tiler.MaxPixelValuesLength];
            TileGrid grid = default;
            int width = 0, height = 0;
            ImageFormat? format = null;
            double decodeMs = 0;
            void Once()
            {
                long start = Stopwatch.GetTimestamp();
                using var decoded = ImageDecoder.Decode(data);
                decodeMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                (width, height, format) = (decoded.Width, decoded.Height, decoded.SourceFormat);
                grid = tiler.Tile(decoded, pixelValues);
            }
            for (int i = 0; i < 3; i++) Once();
            int count = Math.Max(1, parse.GetValue(iterations));
            var milliseconds = new double[count];
            var decoding = new double[count];
            var allocated = new long[count];
            for (int i = 0; i < count; i++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                long start = Stopwatch.GetTimestamp();
                Once();
                milliseconds[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                decoding[i] = decodeMs;
                allocated[i] = GC.GetAllocatedBytesForCurrentThread() - before;
            }
            Array.Sort(milliseconds);
            Array.Sort(allocated);
            Array.Sort(decoding);
            string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
            o.WriteLine($"{format} {width}x{height}, {data.Length:N0} bytes -> grid {grid.Columns}x{grid.Rows}, {grid.TileCount} tiles");
            o.WriteLine($"decode + tile: median {F(milliseconds[count / 2])} ms (min {F(milliseconds[0])}, max {F(milliseconds[^1])}) over {count} iterations, {Environment.ProcessorCount} cores");
            o.WriteLine($"  of which decode: median {F(decoding[count / 2])} ms");
            o.WriteLine($"allocated per iteration: median {allocated[count / 2]:N0} bytes (max {allocated[^1]:N0})");
            return 0;
        });
        return command;
    }
}
