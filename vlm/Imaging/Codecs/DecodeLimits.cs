namespace InternVit.SK.Imaging.Codecs;

/// <summary>The checks every codec makes on a header before it allocates pixels.</summary>
internal static class DecodeLimits
{
    public static void CheckSize(long width, long height, ImageDecodeOptions options, ImageFormat format)
    {
        if (width < 1 || height < 1)
            throw new ImageDecodeException(ImageDecodeError.Corrupt, $"the {SkiaImageCodec.Name(format)} header declares an empty image ({width}x{height})");
        long pixels = width * height;
        if (pixels > options.MaxPixels)
            throw new ImageDecodeException(ImageDecodeError.TooManyPixels,
                $"the {SkiaImageCodec.Name(format)} image is {width}x{height} = {pixels:N0} pixels, more than the limit of {options.MaxPixels:N0}");
    }
}
