using System.Buffers;
using System.Runtime.InteropServices;

namespace InternVit.SK.Imaging;

/// <summary>
/// A decoded image as 8-bit RGB, rows top to bottom, 3 bytes per pixel, no padding (HWC). Dispose the image to give
/// its memory back; its spans are valid until then. Small images live in a pooled array; large ones in native memory
/// that is returned to the system on dispose (see <see cref="PooledBytesLimit"/>).
/// </summary>
public sealed unsafe class DecodedImage : IDisposable
{
    /// <summary>
    /// The largest buffer taken from the request pool (<see cref="IO.RequestBuffers.Bytes"/>, a few arrays per size
    /// process-wide; <see cref="ArrayPool{T}.Shared"/> kept one per thread that had decoded an image, so an idle server's
    /// memory grew with the threads a load had used); larger buffers are allocated natively and freed on dispose (glibc
    /// maps them on their own).
    /// </summary>
    internal const int PooledBytesLimit = 4 << 20;

    private byte[]? _pooled;
    private nint _native;
    private readonly int _capacity;

    private DecodedImage(int width, int height, ImageFormat? format, int bytesPerPixel)
    {
        Width = width;
        Height = height;
        SourceFormat = format;
        _capacity = checked(width * height * bytesPerPixel);
        if (_capacity <= PooledBytesLimit) _pooled = IO.RequestBuffers.Bytes.Rent(_capacity);
        else _native = (nint)NativeMemory.Alloc((nuint)_capacity);
    }

    /// <summary>Frees native pixel memory of an image that was never disposed.</summary>
    ~DecodedImage() => FreeNative();

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The encoded format it came from; null for an image built from raw pixels.</summary>
    public ImageFormat? SourceFormat { get; }

    /// <summary>The RGB pixels, <c>Width * Height * 3</c> bytes. Valid until <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<byte> Pixels => Buffer;

    internal Span<byte> Buffer => Workspace(Width * Height * 3);

    /// <summary>Copies raw RGB pixels (HWC, 3 bytes per pixel, rows top to bottom) into a new image.</summary>
    public static DecodedImage FromRgb24(int width, int height, ReadOnlySpan<byte> rgb)
    {
        if (width < 1 || height < 1) throw new ArgumentOutOfRangeException(nameof(width), $"size {width}x{height} is empty");
        if ((long)width * height * 3 != rgb.Length)
            throw new ArgumentException($"{rgb.Length} bytes is not {width}x{height}x3", nameof(rgb));
        var image = new DecodedImage(width, height, null, 3);
        rgb.CopyTo(image.Buffer);
        return image;
    }

    internal static DecodedImage Allocate(int width, int height, ImageFormat? format) => new(width, height, format, 3);

    /// <summary>
    /// An image whose buffer also holds <paramref name="bytesPerPixel"/> bytes per pixel, so a decoder can write wider
    /// pixels (RGBA) into <see cref="Workspace"/> and narrow them to RGB in place.
    /// </summary>
    internal static DecodedImage Allocate(int width, int height, ImageFormat? format, int bytesPerPixel) => new(width, height, format, bytesPerPixel);

    /// <summary>The first <paramref name="length"/> bytes of the buffer, which may exceed <see cref="Buffer"/>.</summary>
    internal Span<byte> Workspace(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _capacity);
        if (_pooled is { } pooled) return pooled.AsSpan(0, length);
        if (_native != 0) return new Span<byte>((void*)_native, length);
        throw new ObjectDisposedException(nameof(DecodedImage));
    }

    /// <summary>Gives the pixel memory back: to the pool, or to the system for a large image.</summary>
    public void Dispose()
    {
        var pooled = Interlocked.Exchange(ref _pooled, null);
        if (pooled is not null) IO.RequestBuffers.Bytes.Return(pooled);
        FreeNative();
        GC.SuppressFinalize(this);
    }

    private void FreeNative()
    {
        nint native = Interlocked.Exchange(ref _native, 0);
        if (native != 0) NativeMemory.Free((void*)native);
    }
}
