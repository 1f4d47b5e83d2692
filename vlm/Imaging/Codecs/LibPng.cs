using System.Runtime.InteropServices;
using System.Text;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>libpng's simplified read API (<c>libpng16.so.16</c>), only the functions we call.</summary>
internal static unsafe partial class LibPng
{
    private const string Library = "libpng16.so.16";

    /// <summary><c>PNG_IMAGE_VERSION</c>.</summary>
    public const uint ImageVersion = 1;

    /// <summary><c>PNG_FORMAT_FLAG_*</c>.</summary>
    public const uint FormatFlagAlpha = 1, FormatFlagColor = 2, FormatFlagLinear = 4, FormatFlagColormap = 8;

    /// <summary><c>PNG_IMAGE_FLAG_16BIT_sRGB</c>: treat 16-bit samples as sRGB-encoded (no gamma conversion to 8 bits).</summary>
    public const uint ImageFlag16BitSrgb = 4;

    // int png_image_begin_read_from_memory(png_imagep image, png_const_voidp memory, size_t size);
    [LibraryImport(Library, EntryPoint = "png_image_begin_read_from_memory")]
    public static partial int BeginReadFromMemory(PngImage* image, byte* memory, nuint size);

    // int png_image_finish_read(png_imagep image, png_const_colorp background, void *buffer,
    //                           png_int_32 row_stride, void *colormap);
    [LibraryImport(Library, EntryPoint = "png_image_finish_read")]
    public static partial int FinishRead(PngImage* image, void* background, void* buffer, int rowStride, void* colormap);

    // void png_image_free(png_imagep image);
    [LibraryImport(Library, EntryPoint = "png_image_free")]
    public static partial void ImageFree(PngImage* image);
}

/// <summary>
/// <c>png_image</c> (png.h, libpng 1.6): 104 bytes on 64-bit Linux, offsets checked with offsetof: opaque 0,
/// version 8, width 12, height 16, format 20, flags 24, colormap_entries 28, warning_or_error 32, message 36.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PngImage
{
    public nint Opaque;
    public uint Version;
    public uint Width;
    public uint Height;
    public uint Format;
    public uint Flags;
    public uint ColormapEntries;
    public uint WarningOrError;
    public fixed byte Message[64];

    public readonly string MessageText
    {
        get
        {
            fixed (byte* m = Message)
            {
                var span = new ReadOnlySpan<byte>(m, 64);
                int end = span.IndexOf((byte)0);
                return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
            }
        }
    }
}

/// <summary>
/// An owned <c>png_image</c> in native memory (libpng keeps a pointer to it between begin and finish, so it must not
/// move). Release calls <c>png_image_free</c> (a no-op once libpng has cleaned up) and frees the struct.
/// </summary>
internal sealed unsafe class PngImageHandle : SafeHandle
{
    public PngImageHandle() : base(0, ownsHandle: true)
    {
        var image = (PngImage*)NativeMemory.AllocZeroed((nuint)sizeof(PngImage));
        image->Version = LibPng.ImageVersion;
        SetHandle((nint)image);
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The struct; valid until Dispose.</summary>
    public PngImage* Image => (PngImage*)handle;

    protected override bool ReleaseHandle()
    {
        LibPng.ImageFree((PngImage*)handle);
        NativeMemory.Free((void*)handle);
        return true;
    }
}
