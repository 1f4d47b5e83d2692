namespace InternVit.SK.Text;

/// <summary>
/// Tokenizer files that cannot be used: missing, malformed, or of a kind this library does not implement (a
/// SentencePiece/Unigram or WordPiece model, a normalizer or pre-tokenizer other than Qwen2's). The message names the
/// file and what is wrong or unsupported.
/// </summary>
public sealed class TokenizerException : Exception
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public TokenizerException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file or folder at fault.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it, without the path.</summary>
    public string Problem { get; }
}
