namespace InternVit.SK.Imaging.Codecs;

/// <summary>What a walk over a file's container structure (markers, chunks, blocks) found.</summary>
internal enum Completeness
{
    /// <summary>The structure reaches its end marker (or, for GIF, the end of the first frame).</summary>
    Complete,
    /// <summary>The data ends inside the structure: the file was cut off.</summary>
    Truncated,
    /// <summary>The structure is broken before its end (a damaged length or marker).</summary>
    Malformed,
}
