namespace InternVit.SK.Imaging.Codecs;

/// <summary>
/// JPEG through TurboJPEG: accurate integer IDCT and "fancy" (smooth) chroma upsampling, the libjpeg defaults that
/// Pillow also uses. libjpeg warnings are accepted except a premature end of data, which is reported as truncation
/// (Pillow refuses truncated JPEGs too).
/// </summary>
internal static unsafe class JpegCodec
{
    public static DecodedImage Decode(ReadOnlySpan<byte> data, ImageDecodeOptions options)
    {
        using var handle = TurboJpeg.InitDecompress();
        if (handle.IsInvalid) throw new OutOfMemoryException("tjInitDecompress failed");
        fixed (byte* jpeg = data)
        {
            var size = new System.Runtime.InteropServices.CULong((nuint)data.Length);
            int width, height, subsampling, colorspace;
            if (TurboJpeg.DecompressHeader3(handle, jpeg, size, &width, &height, &subsampling, &colorspace) != 0)
                throw Failure(data, TurboJpeg.LastError(handle), "header");
            if (width < 1 || height < 1) // libjpeg ran out of data before the frame header (it "suspends")
                throw Failure(data, "no frame header", "header");
            if (colorspace is TurboJpeg.ColorspaceCmyk or TurboJpeg.ColorspaceYcck)
                throw new ImageDecodeException(ImageDecodeError.Unsupported, "CMYK/YCCK JPEG images are not supported");
            DecodeLimits.CheckSize(width, height, options, ImageFormat.Jpeg);

            int orientation = options.ApplyExifOrientation ? ExifOrientation.Read(data) : 1;
            var image = DecodedImage.Allocate(width, height, ImageFormat.Jpeg);
            try
            {
                fixed (byte* destination = image.Buffer)
                {
                    if (TurboJpeg.Decompress2(handle, jpeg, size, destination, width, width * 3, height, TurboJpeg.PixelFormatRgb, 0) != 0)
                    {
                        string message = TurboJpeg.LastError(handle);
                        if (TurboJpeg.GetErrorCode(handle) != TurboJpeg.ErrorWarning || IsPrematureEnd(message))
                            throw Failure(data, message, "data");
                    }
                }
                if (orientation == 1) return image;
                var upright = ExifOrientation.Apply(image, orientation);
                image.Dispose();
                return upright;
            }
            catch
            {
                image.Dispose();
                throw;
            }
        }
    }

    private static bool IsPrematureEnd(string message) => message.Contains("Premature end", StringComparison.OrdinalIgnoreCase);

    private static ImageDecodeException Failure(ReadOnlySpan<byte> data, string message, string part)
    {
        // A JPEG ends with the EOI marker; without it a failure is most likely a cut-off file.
        bool truncated = IsPrematureEnd(message) || !data.EndsWith((ReadOnlySpan<byte>)[0xFF, 0xD9]);
        return truncated
            ? new ImageDecodeException(ImageDecodeError.Truncated, $"the JPEG {part} ends early (no end-of-image marker): {message}")
            : new ImageDecodeException(ImageDecodeError.Corrupt, $"the JPEG {part} is corrupt: {message}");
    }

    /// <summary>Encodes RGB pixels as a baseline 4:2:0 JPEG (used by the benchmark to make a JPEG of any image).</summary>
    public static byte[] EncodeRgb(ReadOnlySpan<byte> rgb, int width, int height, int quality)
    {
        using var handle = TurboJpeg.InitCompress();
        if (handle.IsInvalid) throw new OutOfMemoryException("tjInitCompress failed");
        byte* jpeg = null;
        System.Runtime.InteropServices.CULong size = default;
        try
        {
            fixed (byte* source = rgb)
            {
                if (TurboJpeg.Compress2(handle, source, width, width * 3, height, TurboJpeg.PixelFormatRgb, &jpeg, &size, TurboJpeg.Subsampling420, quality, 0) != 0)
                    throw new InvalidOperationException("JPEG encoding failed: " + TurboJpeg.LastError(handle));
            }
            return new ReadOnlySpan<byte>(jpeg, checked((int)size.Value)).ToArray();
        }
        finally
        {
            if (jpeg != null) TurboJpeg.Free(jpeg);
        }
    }
}
