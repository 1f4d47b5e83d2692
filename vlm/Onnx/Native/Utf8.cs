using System.Runtime.InteropServices;
using System.Text;

namespace InternVit.SK.Onnx.Native;

/// <summary>The single place where strings cross to and from native code (zero-terminated UTF-8).</summary>
internal static unsafe class Utf8
{
    /// <summary>Zero-terminated UTF-8 bytes of <paramref name="text"/>; pin with <c>fixed</c> for the call.</summary>
    public static byte[] Encode(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    /// <summary>Reads a zero-terminated UTF-8 string (null pointer gives the empty string).</summary>
    public static string Decode(byte* text) => text == null ? string.Empty : Marshal.PtrToStringUTF8((nint)text) ?? string.Empty;

    /// <summary>A copy of <paramref name="text"/> in native memory; free with <see cref="Free"/>.</summary>
    public static byte* Allocate(string text)
    {
        int length = Encoding.UTF8.GetByteCount(text);
        var p = (byte*)NativeMemory.Alloc((nuint)length + 1);
        Encoding.UTF8.GetBytes(text, new Span<byte>(p, length));
        p[length] = 0;
        return p;
    }

    public static void Free(byte* text) => NativeMemory.Free(text);
}
