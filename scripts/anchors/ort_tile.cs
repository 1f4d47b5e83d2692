#:package Microsoft.ML.OnnxRuntime
#:property PublishAot=false
// Times one 448x448 tile through an ONNX vision graph with Microsoft.ML.OnnxRuntime 1.32 as the engine opens graphs (2
// intra-op threads, all graph optimizations, no spinning, as the product runs): the "plain export" anchor of issue 9,
// for the file internvit_torch.py --export writes. Median of R runs after a warm-up.
//
//   dotnet run scripts/anchors/ort_tile.cs -- MODEL.onnx [R=3]
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

string path = args[0];
int runs = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 3;
var clock = Stopwatch.StartNew();
using var options = new SessionOptions { IntraOpNumThreads = 2, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
using var session = new InferenceSession(path, options);
Console.WriteLine($"loaded in {clock.ElapsedMilliseconds} ms");
var random = new Random(0);
var pixels = new float[3 * 448 * 448];
for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(random.NextDouble() * 4 - 2);
using var tile = OrtValue.CreateTensorValueFromMemory(pixels, [1, 3, 448, 448]);
var times = new List<double>();
for (int run = 0; run <= runs; run++)
{
    clock.Restart();
    using var outputs = session.Run(new RunOptions(), [session.InputNames[0]], [tile], [session.OutputNames[0]]);
    if (run > 0) times.Add(clock.Elapsed.TotalMilliseconds);
}
times.Sort();
Console.WriteLine($"median {times[times.Count / 2]:0} ms per tile (runs {string.Join(", ", times.ConvertAll(t => t.ToString("0", System.Globalization.CultureInfo.InvariantCulture)))})");
