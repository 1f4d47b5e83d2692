namespace InternVit.SK.IO;

/// <summary>
/// Writing a file so that its final name only ever shows complete contents: write to a temporary file beside it
/// (unique per writer), flush it to disk, then rename over the final name.
/// </summary>
internal static class AtomicFile
{
    /// <summary>A temporary path in the same folder as <paramref name="path"/>, unique to this call.</summary>
    public static string TemporaryPathFor(string path) => $"{path}.{Guid.NewGuid():N}.partial";

    /// <summary>Creates the temporary file for writing.</summary>
    public static FileStream Create(string temporaryPath, int bufferSize = 1 << 20) =>
        new(temporaryPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize);

    /// <summary>Flushes <paramref name="stream"/> to disk, closes it and moves it to <paramref name="finalPath"/>.</summary>
    public static void Commit(FileStream stream, string finalPath)
    {
        string temporaryPath = stream.Name;
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        File.Move(temporaryPath, finalPath, overwrite: true);
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        string temporaryPath = TemporaryPathFor(path);
        FileStream? stream = null;
        try
        {
            stream = Create(temporaryPath, 1 << 16);
            stream.Write(bytes);
            Commit(stream, path);
        }
        catch
        {
            Discard(stream, temporaryPath);
            throw;
        }
    }

    /// <summary>Removes a temporary file after a failure; never throws.</summary>
    public static void Discard(FileStream? stream, string temporaryPath)
    {
        try
        {
            stream?.Dispose();
            File.Delete(temporaryPath);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
