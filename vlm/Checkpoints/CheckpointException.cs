namespace InternVit.SK.Checkpoints;

/// <summary>
/// A checkpoint file or folder that cannot be read: a truncated or corrupt safetensors file, a missing shard,
/// a config.json without the fields InternVL needs. The message names the file and the problem.
/// </summary>
public sealed class CheckpointException : Exception
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public CheckpointException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file or folder that is at fault.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it, without the path.</summary>
    public string Problem { get; }
}
