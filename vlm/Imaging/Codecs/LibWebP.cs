using System.Runtime.InteropServices;

namespace InternVit.SK.Imaging.Codecs;

/// <summary>libwebp's simple decoding API (<c>libwebp.so.7</c>); the output goes into our own buffers, so nothing is owned.</summary>
internal static unsafe partial class LibWebP
{
    private const string Library = "libwebp.so.7";

    // int WebPGetInfo(const uint8_t* data, size_t data_size, int* width, int* height);
    [LibraryImport(Library, EntryPoint = "WebPGetInfo")]
    public static partial int GetInfo(byte* data, nuint size, int* width, int* height);

    // uint8_t* WebPDecodeRGBInto(const uint8_t* data, size_t data_size, uint8_t* output_buffer,
    //                            size_t output_buffer_size, int output_stride);
    [LibraryImport(Library, EntryPoint = "WebPDecodeRGBInto")]
    public static partial byte* DecodeRgbInto(byte* data, nuint size, byte* output, nuint outputSize, int stride);

    // uint8_t* WebPDecodeRGBAInto(...): same, 4 bytes per pixel, alpha not premultiplied.
    [LibraryImport(Library, EntryPoint = "WebPDecodeRGBAInto")]
    public static partial byte* DecodeRgbaInto(byte* data, nuint size, byte* output, nuint outputSize, int stride);
}
