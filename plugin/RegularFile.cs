using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace InternVit.SK.Plugin;

/// <summary>
/// Opens a file for reading only when it is a regular file. A FIFO, socket or device named where an image is expected
/// would otherwise block <c>open</c> or <c>read</c> for ever (a FIFO with no writer) or never end (<c>/dev/zero</c>).
/// On Linux the file is opened without blocking (<c>O_NONBLOCK</c>) and its type is read from the open descriptor
/// (<c>statx</c>), so nothing can be swapped in between the check and the read; elsewhere the path is checked, then opened.
/// </summary>
internal static partial class RegularFile
{
    private const int ReadOnlyNonBlocking = 0x800 | 0x80000 | 0x100; // O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY (Linux)
    private const int EmptyPath = 0x1000;                              // AT_EMPTY_PATH
    private const uint TypeMask = 0x1;                                  // STATX_TYPE
    private const int ModeOffset = 28;                                  // struct statx: stx_mode (u16) after mask, blksize, attributes, nlink, uid, gid
    private const int TypeBits = 0xF000, Regular = 0x8000;              // S_IFMT, S_IFREG

    /// <summary>Opens <paramref name="path"/> for reading; <see cref="IOException"/> when it is not a regular file.</summary>
    public static SafeFileHandle OpenRead(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            if (Directory.Exists(path) || !File.Exists(path)) throw new FileNotFoundException($"no such file: {path}", path);
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        int fd = Open(path, ReadOnlyNonBlocking);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno == 2 ? new FileNotFoundException($"no such file: {path}", path) : new IOException($"cannot open {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            Span<byte> status = stackalloc byte[256];
            if (Statx(fd, "", EmptyPath, TypeMask, status) != 0)
                throw new IOException($"cannot read the type of {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            int mode = BitConverter.ToUInt16(status[ModeOffset..]);
            if ((mode & TypeBits) != Regular) throw new IOException($"{Path.GetFileName(path)} is not a regular file ({Describe(mode & TypeBits)})");
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static string Describe(int type) => type switch
    {
        0x1000 => "a FIFO",
        0x2000 => "a character device",
        0x4000 => "a folder",
        0x6000 => "a block device",
        0xC000 => "a socket",
        _ => "not a plain file",
    };

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int directory, string path, int flags, uint mask, Span<byte> status);
}
