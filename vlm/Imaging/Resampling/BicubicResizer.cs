using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace InternVit.SK.Imaging.Resampling;

/// <summary>
/// Resizes 8-bit RGB images exactly as Pillow's <c>Image.resize(size, BICUBIC)</c> (Pillow 9.4,
/// <c>ImagingResample</c>): a horizontal pass over the rows the vertical pass needs (when the width changes), then a
/// vertical pass (when the height changes); integer accumulation from 2^21, <c>&gt;&gt; 22</c>, clamped to 0..255 after each
/// pass. Both passes are vectorised (Vector256 of int32) and split into two bands of rows that run on two threads when
/// the image is large (every row is computed as before, so the result does not depend on the split); scratch memory
/// comes from the array pools.
/// </summary>
internal static unsafe class BicubicResizer
{
    private const int Bits = ResampleCoefficients.PrecisionBits;
    private const int Rounding = 1 << (Bits - 1);

    /// <summary>Output bytes below which a pass stays on the calling thread (a second thread costs more than it saves).</summary>
    private const long MinBytesForTwoBands = 1 << 18;

    /// <summary>Resizes <paramref name="source"/> (RGB, <paramref name="sourceWidth"/> x <paramref name="sourceHeight"/>) into <paramref name="destination"/>.</summary>
    public static void Resize(ReadOnlySpan<byte> source, int sourceWidth, int sourceHeight, Span<byte> destination, int width, int height, CancellationToken cancellation = default)
    {
        if (sourceWidth < 1 || sourceHeight < 1 || width < 1 || height < 1)
            throw new ArgumentOutOfRangeException(nameof(width), $"cannot resize {sourceWidth}x{sourceHeight} to {width}x{height}");
        if (source.Length < (long)sourceWidth * sourceHeight * 3) throw new ArgumentException("source buffer too small", nameof(source));
        if (destination.Length < (long)width * height * 3) throw new ArgumentException("destination buffer too small", nameof(destination));
        bool horizontal = sourceWidth != width, vertical = sourceHeight != height;
        if (!horizontal && !vertical)
        {
            source[..(width * height * 3)].CopyTo(destination);
            return;
        }

        using var rows = ResampleCoefficients.Compute(sourceHeight, height);
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            nint input = (nint)src, output = (nint)dst;
            int rowBytes = width * 3;
            if (!horizontal)
            {
                InBands(0, height, (long)height * rowBytes, (a, b) => Vertical((byte*)input, rowBytes, (byte*)output, rows, 0, a, b, cancellation));
                return;
            }
            using var columns = ResampleCoefficients.Compute(sourceWidth, width, lanes: 4);
            if (!vertical)
            {
                InBands(0, sourceHeight, (long)sourceHeight * rowBytes,
                    (a, b) => Horizontal((byte*)input, sourceWidth, a, b, (byte*)output + (long)a * rowBytes, columns, cancellation));
                return;
            }
            // Only the source rows some output row reads go through the horizontal pass (as in Pillow).
            int first = rows.Bounds[0];
            int last = rows.Bounds[2 * height - 2] + rows.Bounds[2 * height - 1];
            byte[] temporary = IO.RequestBuffers.Bytes.Rent((last - first) * rowBytes);
            try
            {
                fixed (byte* tmp = temporary)
                {
                    nint between = (nint)tmp;
                    InBands(first, last, (long)(last - first) * rowBytes,
                        (a, b) => Horizontal((byte*)input, sourceWidth, a, b, (byte*)between + (long)(a - first) * rowBytes, columns, cancellation));
                    InBands(0, height, (long)height * rowBytes, (a, b) => Vertical((byte*)between, rowBytes, (byte*)output, rows, first, a, b, cancellation));
                }
            }
            finally
            {
                IO.RequestBuffers.Bytes.Return(temporary);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="pass"/> over rows [<paramref name="start"/>, <paramref name="end"/>): at once when the pass
    /// writes less than <see cref="MinBytesForTwoBands"/> or there is one core, else in two halves, one offered to the
    /// thread pool. Whichever thread comes first claims the next half, so the caller runs both when the pool is slow to
    /// start the helper and never waits for a half nobody began. Returns when both halves are done (they write into
    /// pooled buffers); the first failure is rethrown as it was thrown (e.g. <see cref="OperationCanceledException"/>).
    /// </summary>
    private static void InBands(int start, int end, long outputBytes, Action<int, int> pass)
    {
        if (outputBytes < MinBytesForTwoBands || Environment.ProcessorCount < 2 || end - start < 2)
        {
            pass(start, end);
            return;
        }
        int middle = start + (end - start) / 2;
        int claimed = 0, unfinished = 2;
        Exception? failure = null;
        var gate = new object();
        void RunBands()
        {
            for (int band; (band = Interlocked.Increment(ref claimed) - 1) < 2;)
            {
                try
                {
                    if (band == 0) pass(start, middle);
                    else pass(middle, end);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref failure, e, null);
                }
                finally
                {
                    if (Interlocked.Decrement(ref unfinished) == 0)
                        lock (gate) Monitor.PulseAll(gate);
                }
            }
        }
        ThreadPool.UnsafeQueueUserWorkItem(static run => run(), (Action)RunBands, preferLocal: false);
        RunBands();
        lock (gate)
            while (Volatile.Read(ref unfinished) != 0) Monitor.Wait(gate);
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>
    /// Source rows [first, last) to output rows 0.. of <paramref name="dst"/>. Each row is first spread to RGBX so
    /// that two taps (two pixels, 8 bytes) widen into one Vector256; the weight vector holds w[k] x4, w[k+1] x4.
    /// </summary>
    private static void Horizontal(byte* src, int sourceWidth, int first, int last, byte* dst, ResampleCoefficients columns, CancellationToken cancellation)
    {
        int width = columns.OutSize, stride = columns.Stride;
        // One zero pixel after the row: the tap count is rounded up to even, so a pair may reach one pixel past it.
        byte[] rowBuffer = ArrayPool<byte>.Shared.Rent((sourceWidth + 2) * 4);
        try
        {
            fixed (byte* row = rowBuffer)
            fixed (int* bounds = columns.Bounds)
            fixed (int* weights = columns.Weights)
            {
                Unsafe.InitBlock(row + sourceWidth * 4, 0, 8);
                int rowBytes = width * 3;
                for (int y = first; y < last; y++)
                {
                    if (((y - first) & 63) == 0) cancellation.ThrowIfCancellationRequested();
                    byte* input = src + (long)y * sourceWidth * 3;
                    int x = 0;
                    // 4 pixels per shuffle (16 bytes read, 12 used); the scalar loop finishes the row.
                    var spread = Vector128.Create((byte)0, 1, 2, 255, 3, 4, 5, 255, 6, 7, 8, 255, 9, 10, 11, 255);
                    for (; (x + 5) * 3 + 1 <= sourceWidth * 3; x += 4)
                        Vector128.Shuffle(Vector128.Load(input + 3 * x), spread).Store(row + 4 * x);
                    for (; x < sourceWidth; x++)
                    {
                        row[4 * x] = input[3 * x];
                        row[4 * x + 1] = input[3 * x + 1];
                        row[4 * x + 2] = input[3 * x + 2];
                        row[4 * x + 3] = 0;
                    }
                    byte* output = dst + (long)(y - first) * rowBytes;
                    for (int i = 0; i < width; i++)
                    {
                        int min = bounds[2 * i], count = (bounds[2 * i + 1] + 1) & ~1;
                        int* w = weights + i * stride;
                        byte* p = row + min * 4;
                        var sum = Vector256<int>.Zero;
                        for (int k = 0; k < count; k += 2)
                            sum += Widen8(p + k * 4) * Vector256.Load(w + k * 4);
                        var pixel = sum.GetLower() + sum.GetUpper() + Vector128.Create(Rounding);
                        pixel = Vector128.Min(Vector128.Max(Vector128.ShiftRightArithmetic(pixel, Bits), Vector128<int>.Zero), Vector128.Create(255));
                        byte* o = output + 3 * i;
                        o[0] = (byte)pixel.GetElement(0);
                        o[1] = (byte)pixel.GetElement(1);
                        o[2] = (byte)pixel.GetElement(2);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rowBuffer);
        }
    }

    /// <summary>
    /// Output rows [start, end): each a weighted sum of whole input rows (starting at <c>Bounds - offset</c>), 16 bytes
    /// at a time.
    /// </summary>
    private static void Vertical(byte* src, int rowBytes, byte* dst, ResampleCoefficients rows, int offset, int start, int end, CancellationToken cancellation)
    {
        int stride = rows.Stride;
        fixed (int* bounds = rows.Bounds)
        fixed (int* weights = rows.Weights)
        {
            var rounding = Vector256.Create(Rounding);
            var max = Vector256.Create(255);
            for (int y = start; y < end; y++)
            {
                if (((y - start) & 63) == 0) cancellation.ThrowIfCancellationRequested();
                int min = bounds[2 * y] - offset, count = bounds[2 * y + 1];
                int* w = weights + y * stride;
                byte* input = src + (long)min * rowBytes;
                byte* output = dst + (long)y * rowBytes;
                int x = 0;
                for (; x + 16 <= rowBytes; x += 16)
                {
                    var low = rounding;
                    var high = rounding;
                    byte* p = input + x;
                    for (int k = 0; k < count; k++, p += rowBytes)
                    {
                        var weight = Vector256.Create(w[k]);
                        low += Widen8(p) * weight;
                        high += Widen8(p + 8) * weight;
                    }
                    low = Vector256.Min(Vector256.Max(Vector256.ShiftRightArithmetic(low, Bits), Vector256<int>.Zero), max);
                    high = Vector256.Min(Vector256.Max(Vector256.ShiftRightArithmetic(high, Bits), Vector256<int>.Zero), max);
                    var shorts = Vector256.Narrow(low, high).AsUInt16();
                    Vector128.Narrow(shorts.GetLower(), shorts.GetUpper()).Store(output + x);
                }
                for (; x < rowBytes; x++)
                {
                    int sum = Rounding;
                    byte* p = input + x;
                    for (int k = 0; k < count; k++, p += rowBytes) sum += *p * w[k];
                    output[x] = Clip8(sum);
                }
            }
        }
    }

    /// <summary>8 bytes zero-extended to 8 int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Widen8(byte* p)
    {
        if (Avx2.IsSupported) return Avx2.ConvertToVector256Int32(p);
        var words = Vector128.WidenLower(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(p)).AsByte());
        return Vector256.Create(Vector128.WidenLower(words), Vector128.WidenUpper(words)).AsInt32();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Clip8(int value) => (byte)Math.Clamp(value >> Bits, 0, 255);
}
