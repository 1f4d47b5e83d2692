using System.Runtime.InteropServices;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>The TurboJPEG 2.x C API of libjpeg-turbo (<c>libturbojpeg.so.0</c>), only the functions we call.</summary>
internal static unsafe partial class TurboJpeg
{
    private const string Library = "libturbojpeg.so.0";

    /// <summary><c>TJPF_RGB</c>: 3 bytes per pixel, R G B.</summary>
    public const int PixelFormatRgb = 0;

    /// <summary><c>TJSAMP_420</c>.</summary>
    public const int Subsampling420 = 2;

    /// <summary><c>TJCS_CMYK</c> and <c>TJCS_YCCK</c>: four-component JPEGs.</summary>
    public const int ColorspaceCmyk = 3, ColorspaceYcck = 4;

    /// <summary><c>TJERR_WARNING</c>: the call completed, with a libjpeg warning.</summary>
    public const int ErrorWarning = 0;

    // tjhandle tjInitDecompress(void);
    [LibraryImport(Library, EntryPoint = "tjInitDecompress")]
    public static partial TurboJpegHandle InitDecompress();

    // tjhandle tjInitCompress(void);
    [LibraryImport(Library, EntryPoint = "tjInitCompress")]
    public static partial TurboJpegHandle InitCompress();

    // int tjDestroy(tjhandle handle);
    [LibraryImport(Library, EntryPoint = "tjDestroy")]
    public static partial int Destroy(nint handle);

    // int tjDecompressHeader3(tjhandle, const unsigned char *jpegBuf, unsigned long jpegSize,
    //                         int *width, int *height, int *jpegSubsamp, int *jpegColorspace);
    [LibraryImport(Library, EntryPoint = "tjDecompressHeader3")]
    public static partial int DecompressHeader3(TurboJpegHandle handle, byte* jpeg, CULong size, int* width, int* height, int* subsampling, int* colorspace);

    // int tjDecompress2(tjhandle, const unsigned char *jpegBuf, unsigned long jpegSize, unsigned char *dstBuf,
    //                   int width, int pitch, int height, int pixelFormat, int flags);
    [LibraryImport(Library, EntryPoint = "tjDecompress2")]
    public static partial int Decompress2(TurboJpegHandle handle, byte* jpeg, CULong size, byte* destination, int width, int pitch, int height, int pixelFormat, int flags);

    // int tjCompress2(tjhandle, const unsigned char *srcBuf, int width, int pitch, int height, int pixelFormat,
    //                 unsigned char **jpegBuf, unsigned long *jpegSize, int jpegSubsamp, int jpegQual, int flags);
    [LibraryImport(Library, EntryPoint = "tjCompress2")]
    public static partial int Compress2(TurboJpegHandle handle, byte* source, int width, int pitch, int height, int pixelFormat, byte** jpeg, CULong* size, int subsampling, int quality, int flags);

    // void tjFree(unsigned char *buffer);
    [LibraryImport(Library, EntryPoint = "tjFree")]
    public static partial void Free(byte* buffer);

    // char *tjGetErrorStr2(tjhandle handle);  (the string belongs to the handle)
    [LibraryImport(Library, EntryPoint = "tjGetErrorStr2")]
    public static partial byte* GetErrorStr2(TurboJpegHandle handle);

    // int tjGetErrorCode(tjhandle handle);
    [LibraryImport(Library, EntryPoint = "tjGetErrorCode")]
    public static partial int GetErrorCode(TurboJpegHandle handle);

    /// <summary>The handle's last error message.</summary>
    public static string LastError(TurboJpegHandle handle) =>
        Marshal.PtrToStringUTF8((nint)GetErrorStr2(handle)) ?? "unknown TurboJPEG error";
}

/// <summary>An owned <c>tjhandle</c>, released with <c>tjDestroy</c>.</summary>
internal sealed class TurboJpegHandle : SafeHandle
{
    public TurboJpegHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => TurboJpeg.Destroy(handle) == 0;
}
