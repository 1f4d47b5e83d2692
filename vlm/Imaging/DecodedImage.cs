using System.Buffers;

namespace InternVit.SK.Imaging;

/// <summary>
/// A decoded image as 8-bit RGB, rows top to bottom, 3 bytes per pixel, no padding (HWC). The pixels live in a
/// pooled buffer: dispose the image to give it back; its spans are valid until then.
/// </summary>
public sealed class DecodedImage : IDisposable
{
    private byte[]? _buffer;

    private DecodedImage(int width, int height, ImageFormat? format, int bytesPerPixel)
    {
        Width = width;
        Height = height;
        SourceFormat = format;
        _buffer = ArrayPool<byte>.Shared.Rent(checked(width * height * bytesPerPixel));
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The encoded format it came from; null for an image built from raw pixels.</summary>
    public ImageFormat? SourceFormat { get; }

    /// <summary>The RGB pixels, <c>Width * Height * 3</c> bytes. Valid until <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<byte> Pixels => Buffer;

    internal Span<byte> Buffer => (_buffer ?? throw new ObjectDisposedException(nameof(DecodedImage))).AsSpan(0, Width * Height * 3);

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
    internal Span<byte> Workspace(int length) => (_buffer ?? throw new ObjectDisposedException(nameof(DecodedImage))).AsSpan(0, length);

    /// <summary>Returns the pixel buffer to the pool.</summary>
    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
    }
}
