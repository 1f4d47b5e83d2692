using System.Runtime.InteropServices;

namespace InternVit.SK.Onnx;

/// <summary>
/// glibc's <c>mallopt</c>, for the one malloc setting that decides whether ONNX Runtime's large, short-lived buffers go
/// back to the system: <c>M_MMAP_THRESHOLD</c>. Nothing happens on other C libraries or operating systems.
/// </summary>
internal static partial class GlibcMalloc
{
    private const int MmapThresholdParameter = -3; // M_MMAP_THRESHOLD in malloc.h

    /// <summary>
    /// Fixes the size from which malloc serves a request with its own mapping (released on free). Setting it also turns
    /// off glibc's default of raising the threshold to the largest mapped block freed so far. Returns whether it applied.
    /// </summary>
    public static bool TrySetMmapThreshold(int bytes)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return MallOpt(MmapThresholdParameter, bytes) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (e.g. musl)
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int parameter, int value);
}
