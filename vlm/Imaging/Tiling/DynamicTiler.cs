using System.Buffers;
using InternVit.SK.Imaging.Resampling;

namespace InternVit.SK.Imaging.Tiling;

/// <summary>
/// InternVL's dynamic tiling, as the official <c>dynamic_preprocess</c> does it: choose the grid whose aspect ratio
/// is closest to the image's, resize the image to the grid (Pillow bicubic), cut it into tiles row by row, and append
/// a thumbnail (the whole image resized to one tile) when there is more than one tile. The output is either the
/// normalised float32 <c>pixel_values</c> [N,3,S,S] or the uint8 tiles [N,S,S,3], written into caller-owned buffers
/// so they can be reused across images.
/// </summary>
public sealed class DynamicTiler
{
    private readonly (int Columns, int Rows)[] _ratios;

    /// <summary>Creates a tiler; <paramref name="options"/> defaults to 448-pixel tiles, 1..12 tiles, thumbnail on.</summary>
    public DynamicTiler(TilingOptions? options = null)
    {
        Options = options ?? new TilingOptions();
        Options.Validate();
        _ratios = CandidateGrids(Options.MinTiles, Options.MaxTiles);
    }

    /// <summary>The tiling parameters.</summary>
    public TilingOptions Options { get; }

    /// <summary>Floats in one tile of <c>pixel_values</c> (3 x S x S).</summary>
    public int FloatsPerTile => 3 * Options.ImageSize * Options.ImageSize;

    /// <summary>A <c>pixel_values</c> buffer of this length fits any image (the most tiles, plus the thumbnail).</summary>
    public int MaxPixelValuesLength => (Options.MaxTiles + (Options.UseThumbnail && Options.MaxTiles > 1 ? 1 : 0)) * FloatsPerTile;

    /// <summary>The grid for an image of <paramref name="width"/> x <paramref name="height"/>.</summary>
    public TileGrid Plan(int width, int height)
    {
        if (width < 1 || height < 1) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} is empty");
        var (columns, rows) = ClosestAspectRatio(width, height);
        return new TileGrid(columns, rows, Options.UseThumbnail && columns * rows != 1);
    }

    /// <summary>
    /// Tiles <paramref name="image"/> into normalised <c>pixel_values</c>, [N,3,S,S] float32 (ImageNet mean/std), written
    /// to the start of <paramref name="pixelValues"/>, which must hold <c>grid.TileCount * FloatsPerTile</c> floats
    /// (<see cref="MaxPixelValuesLength"/> always suffices).
    /// </summary>
    public TileGrid Tile(DecodedImage image, Span<float> pixelValues, CancellationToken cancellation = default)
    {
        var grid = PlanFor(image, pixelValues.Length, nameof(pixelValues));
        var sink = new FloatSink(pixelValues, Options.ImageSize);
        Run(image, grid, ref sink, cancellation);
        return grid;
    }

    /// <summary>
    /// Tiles <paramref name="image"/> into uint8 RGB tiles, [N,S,S,3] (what the official code hands to ToTensor), written
    /// to the start of <paramref name="tiles"/>, which must hold <c>grid.TileCount * S * S * 3</c> bytes.
    /// </summary>
    public TileGrid TileBytes(DecodedImage image, Span<byte> tiles, CancellationToken cancellation = default)
    {
        var grid = PlanFor(image, tiles.Length, nameof(tiles));
        var sink = new ByteSink(tiles, Options.ImageSize);
        Run(image, grid, ref sink, cancellation);
        return grid;
    }

    /// <summary>The grid for <paramref name="image"/>, after checking that a buffer of <paramref name="available"/> elements holds its tiles (3 x S x S elements each).</summary>
    private TileGrid PlanFor(DecodedImage image, int available, string buffer)
    {
        var grid = Plan(image.Width, image.Height);
        long needed = (long)grid.TileCount * FloatsPerTile;
        if (available < needed)
            throw new ArgumentException($"{grid.TileCount} tiles need {needed} elements; the buffer has {available}", buffer);
        return grid;
    }

    /// <summary>
    /// <c>find_closest_aspect_ratio</c>: candidates in order of increasing tile count; a strictly smaller
    /// |W/H - i/j| (IEEE double) wins; an exact tie goes to the later candidate only when the image area exceeds
    /// half the tiled area (0.5 * S^2 * i * j).
    /// </summary>
    internal (int Columns, int Rows) ClosestAspectRatio(int width, int height)
    {
        double aspect = (double)width / height;
        double bestDifference = double.PositiveInfinity;
        var best = (Columns: 1, Rows: 1);
        double area = (double)width * height;
        double size = Options.ImageSize;
        foreach (var ratio in _ratios)
        {
            double difference = Math.Abs(aspect - (double)ratio.Columns / ratio.Rows);
            if (difference < bestDifference)
            {
                bestDifference = difference;
                best = ratio;
            }
            else if (difference == bestDifference && area > 0.5 * size * size * ratio.Columns * ratio.Rows)
            {
                best = ratio;
            }
        }
        return best;
    }

    /// <summary>All (i, j) with min &lt;= i*j &lt;= max, by increasing i*j (then i; the order among equal products never matters).</summary>
    private static (int, int)[] CandidateGrids(int min, int max)
    {
        var list = new List<(int, int)>();
        for (int product = min; product <= max; product++)
            for (int i = 1; i <= product; i++)
                if (product % i == 0) list.Add((i, product / i));
        return list.ToArray();
    }

    private void Run<TSink>(DecodedImage image, TileGrid grid, ref TSink sink, CancellationToken cancellation)
        where TSink : ITileSink, allows ref struct
    {
        int size = Options.ImageSize;
        int width = grid.Columns * size, height = grid.Rows * size;
        int stride = width * 3;
        byte[] resized = IO.RequestBuffers.Bytes.Rent(checked(width * height * 3));
        try
        {
            BicubicResizer.Resize(image.Pixels, image.Width, image.Height, resized, width, height, cancellation);
            for (int t = 0; t < grid.GridTiles; t++)
            {
                int column = t % grid.Columns, row = t / grid.Columns;
                sink.Write(t, resized.AsSpan((row * size * width + column * size) * 3), stride);
            }
            if (grid.HasThumbnail)
            {
                cancellation.ThrowIfCancellationRequested();
                BicubicResizer.Resize(image.Pixels, image.Width, image.Height, resized, size, size, cancellation);
                sink.Write(grid.GridTiles, resized, size * 3);
            }
        }
        finally
        {
            IO.RequestBuffers.Bytes.Return(resized);
        }
    }

    private interface ITileSink
    {
        /// <summary>Takes tile <paramref name="index"/>, whose rows start <paramref name="stride"/> bytes apart in <paramref name="source"/>.</summary>
        void Write(int index, ReadOnlySpan<byte> source, int stride);
    }

    private readonly ref struct FloatSink(Span<float> destination, int size) : ITileSink
    {
        private readonly Span<float> _destination = destination;

        public void Write(int index, ReadOnlySpan<byte> source, int stride)
        {
            int floats = 3 * size * size;
            PixelNormalizer.Normalize(source, stride, size, _destination.Slice(index * floats, floats));
        }
    }

    private readonly ref struct ByteSink(Span<byte> destination, int size) : ITileSink
    {
        private readonly Span<byte> _destination = destination;

        public void Write(int index, ReadOnlySpan<byte> source, int stride)
        {
            int rowBytes = size * 3;
            var tile = _destination.Slice(index * size * rowBytes, size * rowBytes);
            for (int y = 0; y < size; y++) source.Slice(y * stride, rowBytes).CopyTo(tile.Slice(y * rowBytes, rowBytes));
        }
    }
}
