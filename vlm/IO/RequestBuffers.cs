using System.Buffers;

namespace InternVit.SK.IO;

/// <summary>
/// Pools for the large per-request buffers (an image's resized grid, its tiles' pixel values), shared by every thread
/// and capped. <see cref="ArrayPool{T}.Shared"/> keeps a returned array per thread and per core, so each thread a
/// request happened to run on kept its own tens of megabytes, and an idle server's memory grew with the number of
/// threads that had served an image. Here at most <see cref="ArraysPerSize"/> arrays of each power-of-two size are kept
/// process-wide, and arrays larger than the biggest bucket are not kept at all.
/// </summary>
internal static class RequestBuffers
{
    /// <summary>Arrays kept per size bucket, across all threads (a few requests in flight reuse them).</summary>
    public const int ArraysPerSize = 2;

    /// <summary>Up to 64 Mi floats (256 MB): 40 tiles of 448×448 pixel values need 24 Mi.</summary>
    public static ArrayPool<float> Floats { get; } = ArrayPool<float>.Create(1 << 26, ArraysPerSize);

    /// <summary>Up to 128 MB: the resized grid of 40 tiles of 448×448 RGB needs 24 MB.</summary>
    public static ArrayPool<byte> Bytes { get; } = ArrayPool<byte>.Create(1 << 27, ArraysPerSize);
}
