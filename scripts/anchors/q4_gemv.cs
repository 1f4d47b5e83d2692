#:package Microsoft.ML.OnnxRuntime
#:package Google.Protobuf
#:property PublishAot=false
#:property AllowUnsafeBlocks=true
#:property Optimize=true
// The kernel comparison behind the README's int4 decode paragraph (issue 9): one activation row times L distinct
// 4-bit matrices (block 32, a float scale and a zero point per block), so every call reads its weights from memory,
// on 2 threads, timed three ways in interleaved rounds:
//   - ORT's MatMulNBits (accuracy level 4: MLAS's int8 kernel), L nodes in one graph, through Microsoft.ML.OnnxRuntime;
//   - a hand-written C# AVX-VNNI kernel over the same quantized weights, rows interleaved by four;
//   - a plain read of 400 MB, for the memory's rate.
// Both kernels quantize the activations to int8 per block at every call. The C# kernel is checked against a scalar
// reference and against ORT's outputs before anything is timed.
//
//   dotnet run scripts/anchors/q4_gemv.cs -- [N=9728] [K=896] [L=24] [rounds=5]
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
int N = Arg(0, 9728), K = Arg(1, 896), L = Arg(2, 24), rounds = Arg(3, 5);
if (N % 8 != 0 || K % 64 != 0) throw new ArgumentException("N must be a multiple of 8 and K of 64");
if (!AvxVnni.IsSupported) throw new PlatformNotSupportedException("the C# kernel needs AVX-VNNI");
const int Threads = 2;
int blocks = K / 32;

var random = new Random(1);
var weights = new Q4Weights[L];
string modelPath = Path.Combine(Path.GetTempPath(), $"q4_gemv_{N}x{K}x{L}.onnx");
using (var file = File.Create(modelPath))
{
    var graph = new List<(int Field, byte[] Message)>();
    var quantized = new byte[N * K];
    var scales = new float[N * blocks];
    var zeros = new byte[N * blocks];
    for (int l = 0; l < L; l++)
    {
        for (int i = 0; i < quantized.Length; i++) quantized[i] = (byte)random.Next(16);
        for (int i = 0; i < scales.Length; i++) scales[i] = (float)(random.NextDouble() * 0.02);
        for (int i = 0; i < zeros.Length; i++) zeros[i] = (byte)random.Next(16);
        weights[l] = new Q4Weights(quantized, scales, zeros, N, K);
        graph.AddRange(Onnx.MatMulNBits(l, quantized, scales, zeros, N, K));
    }
    Onnx.WriteModel(file, graph, K, L);
}

using var sessionOptions = new SessionOptions { IntraOpNumThreads = Threads };
sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
using var session = new InferenceSession(modelPath, sessionOptions);
using var runOptions = new RunOptions();
var x = new float[K];
for (int i = 0; i < K; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
using var input = OrtValue.CreateTensorValueFromMemory(x, [1, K]);
var outputNames = new string[L];
for (int l = 0; l < L; l++) outputNames[l] = $"Y{l}";
var activations = new Q8Activations(K);
var y = new float[N];

// Checks: the C# kernel against a scalar reference on the same int8 activations, then against ORT.
activations.Quantize(x);
weights[0].Multiply(activations, y, 0, N);
double largest = 0, scalarError = 0, ortError = 0;
foreach (float v in y) largest = Math.Max(largest, Math.Abs(v));
for (int n = 0; n < 64; n++) scalarError = Math.Max(scalarError, Math.Abs(weights[0].Reference(activations, n) - y[n]));
var ortOutputs = session.Run(runOptions, [session.InputNames[0]], [input], outputNames);
try
{
    var ortY = ortOutputs[0].GetTensorDataAsSpan<float>();
    for (int n = 0; n < N; n++) ortError = Math.Max(ortError, Math.Abs(ortY[n] - y[n]));
}
finally
{
    ortOutputs.Dispose();
}
Console.WriteLine($"C# kernel vs scalar reference: max |diff| {scalarError / largest:g2} of max |y|; vs ORT: {ortError / largest:g2}");
if (scalarError > 1e-4 * largest || ortError > 2e-2 * largest) throw new InvalidOperationException("the kernels disagree");

long bytesPerCall = (long)N * blocks * (16 + 4) + N * ((blocks + 1) / 2);
nint readBuffer = AllocateReadBuffer(400L << 20);
Console.WriteLine($"N {N}, K {K}, {L} matrices, {bytesPerCall / 1e6:0.00} MB of weights, scales and zero points a call, {Threads} threads");
for (int round = 1; round <= rounds; round++)
{
    double ort = Median(20, () =>
    {
        session.Run(runOptions, [session.InputNames[0]], [input], outputNames).Dispose();
    }) / L;
    double managed = Median(20, () =>
    {
        for (int l = 0; l < L; l++)
        {
            activations.Quantize(x);
            var w = weights[l];
            Parallel.For(0, Threads, t => w.Multiply(activations, y, N / 4 * t / Threads * 4, N / 4 * (t + 1) / Threads * 4));
        }
    }) / L;
    double read = Median(10, () => ReadAll(readBuffer, 400L << 20));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"round {round}: MatMulNBits {ort * 1e6:0} µs ({bytesPerCall / ort / 1e9:0.0} GB/s), C# {managed * 1e6:0} µs ({bytesPerCall / managed / 1e9:0.0} GB/s), C#/ORT {managed / ort:0.00}; plain read {(400L << 20) / read / 1e9:0.0} GB/s"));
}
File.Delete(modelPath);

static double Median(int runs, Action action)
{
    action();
    var times = new double[runs];
    for (int i = 0; i < runs; i++)
    {
        long start = Stopwatch.GetTimestamp();
        action();
        times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
    Array.Sort(times);
    return times[runs / 2];
}

static unsafe nint AllocateReadBuffer(long bytes)
{
    void* buffer = NativeMemory.AlignedAlloc((nuint)bytes, 64);
    NativeMemory.Fill(buffer, (nuint)bytes, 1);
    return (nint)buffer;
}

static unsafe void ReadAll(nint buffer, long bytes)
{
    var sums = new float[Threads];
    Parallel.For(0, Threads, t =>
    {
        float* p = (float*)buffer + bytes / 4 * t / Threads, end = (float*)buffer + bytes / 4 * (t + 1) / Threads;
        Vector256<float> a = default, b = default, c = default, d = default;
        for (; p + 32 <= end; p += 32)
        {
            a += Vector256.Load(p); b += Vector256.Load(p + 8); c += Vector256.Load(p + 16); d += Vector256.Load(p + 24);
        }
        sums[t] = Vector256.Sum(a + b + c + d); // stored, so the loads cannot be dropped
    });
}

/// <summary>Activations quantized as MatMulNBits' accuracy level 4 does: int8 per block of 32, scale = max |x| / 127.</summary>
sealed unsafe class Q8Activations(int k)
{
    public readonly sbyte* Values = (sbyte*)NativeMemory.AlignedAlloc((nuint)k, 64);
    public readonly float[] Scales = new float[k / 32];
    /// <summary>Scale × sum of the block's int8 values: what a block's zero point takes away.</summary>
    public readonly float[] ScaledSums = new float[k / 32];

    public void Quantize(ReadOnlySpan<float> x)
    {
        for (int b = 0; b < Scales.Length; b++)
        {
            var block = x.Slice(b * 32, 32);
            float max = 0;
            foreach (float v in block) max = Math.Max(max, Math.Abs(v));
            float scale = max / 127, inverse = max == 0 ? 0 : 127 / max;
            int sum = 0;
            for (int j = 0; j < 32; j++)
            {
                int q = (int)MathF.Round(block[j] * inverse);
                Values[b * 32 + j] = (sbyte)q;
                sum += q;
            }
            Scales[b] = scale;
            ScaledSums[b] = scale * sum;
        }
    }
}

/// <summary>
/// 4-bit weights in the C# kernel's layout: rows in groups of four; for each pair of blocks (64 weights) the four rows'
/// 32 bytes follow each other, byte j holding weight j in its low nibble and weight 32 + j in its high one. Scales and
/// zero points are stored [group][block][row].
/// </summary>
sealed unsafe class Q4Weights
{
    readonly byte* _packed, _zeros;
    readonly float* _scales;
    readonly int _blocks;

    public Q4Weights(byte[] quantized, float[] scales, byte[] zeros, int n, int k)
    {
        _blocks = k / 32;
        _packed = (byte*)NativeMemory.AlignedAlloc((nuint)(n * k / 2), 64);
        _scales = (float*)NativeMemory.AlignedAlloc((nuint)(n * _blocks * 4), 64);
        _zeros = (byte*)NativeMemory.AlignedAlloc((nuint)(n * _blocks), 64);
        for (int row = 0; row < n; row++)
        {
            int group = row / 4, r = row % 4;
            for (int pair = 0; pair < _blocks / 2; pair++)
                for (int j = 0; j < 32; j++)
                {
                    int at = row * k + pair * 64 + j;
                    _packed[((long)group * (_blocks / 2) + pair) * 128 + r * 32 + j] = (byte)(quantized[at] | quantized[at + 32] << 4);
                }
            for (int b = 0; b < _blocks; b++)
            {
                _scales[((long)group * _blocks + b) * 4 + r] = scales[row * _blocks + b];
                _zeros[((long)group * _blocks + b) * 4 + r] = zeros[row * _blocks + b];
            }
        }
    }

    /// <summary>One output in double from the unpacked values: the reference the kernel is checked against.</summary>
    public double Reference(Q8Activations a, int row)
    {
        int group = row / 4, r = row % 4;
        double total = 0;
        for (int b = 0; b < _blocks; b++)
        {
            long dot = 0;
            int zero = _zeros[((long)group * _blocks + b) * 4 + r];
            byte* packed = _packed + ((long)group * (_blocks / 2) + b / 2) * 128 + r * 32;
            for (int j = 0; j < 32; j++)
                dot += ((b % 2 == 0 ? packed[j] & 15 : packed[j] >> 4) - zero) * (long)a.Values[b * 32 + j];
            total += (double)_scales[((long)group * _blocks + b) * 4 + r] * a.Scales[b] * dot;
        }
        return total;
    }

    /// <summary>y[rows] = W[rows] · a for rows [start, end), both multiples of four.</summary>
    public void Multiply(Q8Activations a, float[] y, int start, int end)
    {
        var mask = Vector256.Create((byte)0x0F);
        float* blockScales = stackalloc float[_blocks * 4];
        fixed (float* activationScales = a.Scales, scaledSums = a.ScaledSums)
            for (int group = start / 4; group < end / 4; group++)
            {
                float* scales = _scales + (long)group * _blocks * 4;
                byte* zeros = _zeros + (long)group * _blocks * 4;
                var correction = Vector128<float>.Zero;
                for (int b = 0; b < _blocks; b++)
                {
                    var s = Sse.LoadVector128(scales + b * 4);
                    Sse.Store(blockScales + b * 4, s * Vector128.Create(activationScales[b]));
                    var z = Sse2.ConvertToVector128Single(Sse41.ConvertToVector128Int32(zeros + b * 4));
                    correction = Fma.MultiplyAdd(s * z, Vector128.Create(scaledSums[b]), correction);
                }
                Vector256<float> low0 = default, low1 = default, low2 = default, low3 = default;
                Vector256<float> high0 = default, high1 = default, high2 = default, high3 = default;
                byte* packed = _packed + (long)group * (_blocks / 2) * 128;
                for (int pair = 0; pair < _blocks / 2; pair++, packed += 128)
                {
                    var aLow = Avx.LoadVector256(a.Values + pair * 64);
                    var aHigh = Avx.LoadVector256(a.Values + pair * 64 + 32);
                    float* s = blockScales + pair * 8;
                    Accumulate(Avx.LoadVector256(packed), aLow, aHigh, s[0], s[4], mask, ref low0, ref high0);
                    Accumulate(Avx.LoadVector256(packed + 32), aLow, aHigh, s[1], s[5], mask, ref low1, ref high1);
                    Accumulate(Avx.LoadVector256(packed + 64), aLow, aHigh, s[2], s[6], mask, ref low2, ref high2);
                    Accumulate(Avx.LoadVector256(packed + 96), aLow, aHigh, s[3], s[7], mask, ref low3, ref high3);
                }
                int row = group * 4;
                y[row] = Vector256.Sum(low0 + high0) - correction[0];
                y[row + 1] = Vector256.Sum(low1 + high1) - correction[1];
                y[row + 2] = Vector256.Sum(low2 + high2) - correction[2];
                y[row + 3] = Vector256.Sum(low3 + high3) - correction[3];
            }
    }

    static void Accumulate(Vector256<byte> packed, Vector256<sbyte> aLow, Vector256<sbyte> aHigh, float scaleLow, float scaleHigh,
        Vector256<byte> mask, ref Vector256<float> low, ref Vector256<float> high)
    {
        var lowDot = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Avx2.And(packed, mask), aLow);
        var highDot = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Avx2.And(Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte(), mask), aHigh);
        low = Fma.MultiplyAdd(Avx.ConvertToVector256Single(lowDot), Vector256.Create(scaleLow), low);
        high = Fma.MultiplyAdd(Avx.ConvertToVector256Single(highDot), Vector256.Create(scaleHigh), high);
    }
}

/// <summary>Just enough of ONNX's protobuf to write L MatMulNBits nodes on one input (field numbers from onnx.proto).</summary>
static class Onnx
{
    static byte[] Message(Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        var stream = new CodedOutputStream(buffer);
        write(stream);
        stream.Flush();
        return buffer.ToArray();
    }

    static void Field(CodedOutputStream s, int number, byte[] message)
    {
        s.WriteTag(number, WireFormat.WireType.LengthDelimited);
        s.WriteBytes(ByteString.CopyFrom(message));
    }

    static void Text(CodedOutputStream s, int number, string value)
    {
        s.WriteTag(number, WireFormat.WireType.LengthDelimited);
        s.WriteString(value);
    }

    static void Integer(CodedOutputStream s, int number, long value)
    {
        s.WriteTag(number, WireFormat.WireType.Varint);
        s.WriteInt64(value);
    }

    static byte[] Tensor(string name, int dataType, long[] dims, ReadOnlySpan<byte> data)
    {
        var raw = ByteString.CopyFrom(data);
        return Message(s =>
        {
            foreach (long d in dims) Integer(s, 1, d);
            Integer(s, 2, dataType);
            Text(s, 8, name);
            s.WriteTag(9, WireFormat.WireType.LengthDelimited);
            s.WriteBytes(raw);
        });
    }

    static byte[] Attribute(string name, long value) => Message(s => { Text(s, 1, name); Integer(s, 3, value); Integer(s, 20, 2); });

    /// <summary>
    /// Node <c>l</c>'s initializers and node, in MatMulNBits' layout: B [N, blocks, 16] with weight 2j in byte j's low
    /// nibble and 2j + 1 in its high one, scales [N × blocks], zero points two blocks a byte (even block low).
    /// </summary>
    public static IEnumerable<(int Field, byte[] Message)> MatMulNBits(int l, byte[] quantized, float[] scales, byte[] zeros, int n, int k)
    {
        int blocks = k / 32, zeroBytes = (blocks + 1) / 2;
        var packed = new byte[n * k / 2];
        for (int i = 0; i < packed.Length; i++) packed[i] = (byte)(quantized[2 * i] | quantized[2 * i + 1] << 4);
        var packedZeros = new byte[n * zeroBytes];
        for (int row = 0; row < n; row++)
            for (int b = 0; b < blocks; b++)
                packedZeros[row * zeroBytes + b / 2] |= (byte)(zeros[row * blocks + b] << (b % 2 * 4));
        yield return (5, Tensor($"B{l}", 2, [n, blocks, 16], packed));
        yield return (5, Tensor($"S{l}", 1, [n * blocks], MemoryMarshal.AsBytes(scales.AsSpan())));
        yield return (5, Tensor($"Z{l}", 2, [packedZeros.Length], packedZeros));
        yield return (1, Message(s =>
        {
            foreach (string input in new[] { "A", $"B{l}", $"S{l}", $"Z{l}" }) Text(s, 1, input);
            Text(s, 2, $"Y{l}");
            Text(s, 3, $"matmul{l}");
            Text(s, 4, "MatMulNBits");
            Text(s, 7, "com.microsoft");
            foreach (var (name, value) in new (string, long)[] { ("K", k), ("N", n), ("bits", 4), ("block_size", 32), ("accuracy_level", 4) })
                Field(s, 5, Attribute(name, value));
        }));
    }

    /// <summary>The model: opsets, the graph's parts (GraphProto field, message), input A [1, K], outputs Y0..Y(L-1).</summary>
    public static void WriteModel(Stream file, List<(int Field, byte[] Message)> parts, int k, int l)
    {
        var floatRow = Message(s => Field(s, 1, Message(t =>
        {
            Integer(t, 1, 1);
            Field(t, 2, Message(u => { Field(u, 1, Message(v => Integer(v, 1, 1))); Field(u, 1, Message(v => Integer(v, 1, k))); }));
        })));
        var graph = Message(s =>
        {
            foreach (var (field, message) in parts) Field(s, field, message);
            Text(s, 2, "q4_gemv");
            Field(s, 11, Message(t => { Text(t, 1, "A"); Field(t, 2, floatRow); }));
            for (int i = 0; i < l; i++)
                Field(s, 12, Message(t => { Text(t, 1, $"Y{i}"); Field(t, 2, Message(u => Field(u, 1, Message(v => Integer(v, 1, 1))))); }));
        });
        var model = Message(s =>
        {
            Integer(s, 1, 9);
            Field(s, 8, Message(t => { Text(t, 1, ""); Integer(t, 2, 21); }));
            Field(s, 8, Message(t => { Text(t, 1, "com.microsoft"); Integer(t, 2, 1); }));
            Field(s, 7, graph);
        });
        file.Write(model);
    }
}
