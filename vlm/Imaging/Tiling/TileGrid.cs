namespace InternVit.SK.Imaging.Tiling;

/// <summary>
/// The tiling chosen for one image: a <see cref="Columns"/> x <see cref="Rows"/> grid of tiles in row-major order
/// (tile i is column i % Columns, row i / Columns), then the thumbnail when <see cref="HasThumbnail"/>.
/// </summary>
/// <param name="Columns">Tiles across.</param>
/// <param name="Rows">Tiles down.</param>
/// <param name="HasThumbnail">Whether a thumbnail of the whole image follows the grid tiles.</param>
public readonly record struct TileGrid(int Columns, int Rows, bool HasThumbnail)
{
    /// <summary>Grid tiles, thumbnail not counted.</summary>
    public int GridTiles => Columns * Rows;

    /// <summary>All tiles: grid tiles plus the thumbnail (the N of <c>pixel_values</c> [N,3,S,S]).</summary>
    public int TileCount => Columns * Rows + (HasThumbnail ? 1 : 0);
}
