namespace InternVit.SK.Imaging;

/// <summary>Why an image could not be decoded.</summary>
public enum ImageDecodeError
{
    /// <summary>The input has no bytes.</summary>
    Empty,
    /// <summary>The encoded input is larger than <see cref="ImageDecodeOptions.MaxEncodedBytes"/>.</summary>
    TooLarge,
    /// <summary>The header declares more pixels than <see cref="ImageDecodeOptions.MaxPixels"/>; nothing was allocated for them.</summary>
    TooManyPixels,
    /// <summary>Not a JPEG, PNG, WebP, GIF or BMP image, or a variant of one that is not supported (animated WebP).</summary>
    Unsupported,
    /// <summary>The data is damaged: the codec rejected it.</summary>
    Corrupt,
    /// <summary>The data ends before the image does.</summary>
    Truncated,
}

/// <summary>
/// An image that cannot be decoded. <see cref="Reason"/> says which kind of problem it is; the message says what
/// is wrong in words (and names the file when the input came from one).
/// </summary>
public sealed class ImageDecodeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ImageDecodeException(ImageDecodeError reason, string problem, string? filePath = null)
        : base(filePath is null ? problem : $"{filePath}: {problem}")
    {
        Reason = reason;
        Problem = problem;
        FilePath = filePath;
    }

    /// <summary>The kind of problem.</summary>
    public ImageDecodeError Reason { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }

    /// <summary>The file the image came from, when it came from one.</summary>
    public string? FilePath { get; }

    internal ImageDecodeException WithFile(string path) => new(Reason, Problem, path);
}
