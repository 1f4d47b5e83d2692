using System.CommandLine;
using InternVit.SK.Hosting;
using InternVit.SK.Imaging;

namespace InternVit.SK.Cli;

/// <summary>
/// Checks of command-line input made while parsing, before any model loads, so a mistake is a one-line usage error
/// (exit code 2). Option values are checked by the library's own checks (the one place each rule lives).
/// </summary>
internal static class InputChecks
{
    /// <summary>Runs <paramref name="check"/> on the option's value when it is given; an <see cref="ArgumentException"/> becomes a parse error naming the option.</summary>
    public static void Validate<T>(Option<T> option, Action<T> check) => option.Validators.Add(result =>
    {
        try
        {
            check(result.GetValueOrDefault<T>());
        }
        catch (ArgumentException e)
        {
            result.AddError($"{option.Name}: {ErrorText.Of(e)}");
        }
    });

    /// <summary>Each --image must name an existing file (not a folder).</summary>
    public static void ValidateImageFiles(Option<FileInfo[]> option) => option.Validators.Add(result =>
    {
        foreach (var file in result.GetValueOrDefault<FileInfo[]>() ?? [])
            if (ImageFileProblem(file.FullName) is { } problem) result.AddError($"{option.Name}: {problem}");
    });

    /// <summary>Why <paramref name="path"/> cannot be an image, or null: missing, a folder, not a regular file, or not PNG/JPEG/WebP.</summary>
    public static string? ImageFileProblem(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) return "no image path was given";
        if (Directory.Exists(path)) return $"'{path}' is a folder, not an image file";
        if (!File.Exists(path)) return $"no such file: '{path}'";
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            Span<byte> header = stackalloc byte[16];
            int read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
            ImageDecoder.DetectFormat(header[..read]);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ImageDecodeException)
        {
            return $"'{path}' cannot be used: {e.Message}";
        }
    }
}
