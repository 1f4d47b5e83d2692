#:package Microsoft.ML.OnnxRuntime
#:property PublishAot=false
// A/B timing of vision graphs (e.g. one converted by main and one by a branch): every graph is opened as the engine
// opens it (2 intra-op threads, all graph optimizations, no spinning), then one tile of seeded random pixels runs
// through each in turn, the order rotating every round, after one warm-up round. Per graph it prints the median wall
// time and the median CPU time of the process per tile (the CPU time is what a run costs when other jobs share the
// cores: wall time then mostly measures the wait), and how far its output is from the first graph's.
// A name starting with "noflash" opens its graph with ORT_DISABLE_FLASH_ATTENTION=1, so MultiHeadAttention takes its
// unfused path ([heads, L, L] scores, softmax, then V).
//
//   dotnet run scripts/anchors/vision_ab.cs -- ROUNDS NAME=vision.onnx NAME=vision.onnx ...
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

int rounds = int.Parse(args[0], CultureInfo.InvariantCulture);
var graphs = args.Skip(1).Select(a => a.Split('=', 2)).Select(p => (Name: p[0], Path: p[1])).ToArray();
var sessions = new List<InferenceSession>();
foreach (var (name, path) in graphs)
{
    var options = new SessionOptions { IntraOpNumThreads = 2, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
    options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
    options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
    bool noFlash = name.StartsWith("noflash", StringComparison.Ordinal);
    if (noFlash) Libc.setenv("ORT_DISABLE_FLASH_ATTENTION", "1", 1); // read when the kernel is created
    sessions.Add(new InferenceSession(path, options));
    if (noFlash) Libc.unsetenv("ORT_DISABLE_FLASH_ATTENTION");
}
var random = new Random(3);
var pixels = new float[3 * 448 * 448];
for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(random.NextDouble() * 4 - 2);
var wall = graphs.Select(_ => new List<double>()).ToArray();
var cpu = graphs.Select(_ => new List<double>()).ToArray();
var outputs = new float[graphs.Length][];
using var process = Process.GetCurrentProcess();
for (int round = -1; round < rounds; round++)
{
    for (int k = 0; k < graphs.Length; k++)
    {
        int g = ((round + k) % graphs.Length + graphs.Length) % graphs.Length;
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [1, 3, 448, 448]);
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        using var result = sessions[g].Run(new RunOptions(), [sessions[g].InputNames[0]], [input], [sessions[g].OutputNames[0]]);
        double wallMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        process.Refresh();
        double cpuMs = (process.TotalProcessorTime - cpuBefore).TotalMilliseconds;
        outputs[g] = result[0].GetTensorDataAsSpan<float>().ToArray();
        if (round >= 0)
        {
            wall[g].Add(wallMs);
            cpu[g].Add(cpuMs);
        }
        Console.WriteLine($"round {round} {graphs[g].Name}: {wallMs:0} ms wall, {cpuMs:0} ms CPU; load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    }
}
static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
for (int g = 0; g < graphs.Length; g++)
{
    double maxDiff = 0, dot = 0, a2 = 0, b2 = 0;
    for (int i = 0; i < outputs[g].Length; i++)
    {
        double a = outputs[0][i], b = outputs[g][i];
        maxDiff = Math.Max(maxDiff, Math.Abs(a - b));
        dot += a * b;
        a2 += a * a;
        b2 += b * b;
    }
    Console.WriteLine($"{graphs[g].Name}: wall median {Median(wall[g]):0} ms [{string.Join(", ", wall[g].Select(t => t.ToString("0", CultureInfo.InvariantCulture)))}], " +
        $"CPU median {Median(cpu[g]):0} ms [{string.Join(", ", cpu[g].Select(t => t.ToString("0", CultureInfo.InvariantCulture)))}]; " +
        $"against {graphs[0].Name}: max |diff| {maxDiff:E2}, cosine {dot / Math.Sqrt(a2 * b2):F6}");
}

static class Libc
{
    [DllImport("libc")] public static extern int setenv(string name, string value, int overwrite);
    [DllImport("libc")] public static extern int unsetenv(string name);
}
