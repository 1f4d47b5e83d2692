#:project ../../vlm/InternVit.SK.Vlm.csproj
#:property PublishAot=false
// Times one 448x448 tile through an ONNX vision graph with this repository's ONNX Runtime binding (ORT 1.30, 2
// intra-op threads, all graph optimizations, no spinning, as the product runs): the "plain export" anchor of issue 9,
// for the file internvit_torch.py --export writes. Median of R runs after a warm-up.
//
//   dotnet run scripts/anchors/ort_tile.cs -- MODEL.onnx [R=3]
using System.Diagnostics;
using InternVit.SK.Onnx;

string path = args[0];
int runs = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 3;
var clock = Stopwatch.StartNew();
using var session = OrtSession.Create(path, new OrtSessionOptions { IntraOpThreads = 2 });
Console.WriteLine($"loaded in {clock.ElapsedMilliseconds} ms");
var random = new Random(0);
var pixels = new float[3 * 448 * 448];
for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(random.NextDouble() * 4 - 2);
using var tile = OrtTensor.FromArray(pixels, 1, 3, 448, 448);
var times = new List<double>();
for (int run = 0; run <= runs; run++)
{
    clock.Restart();
    foreach (var output in session.Run([(session.Inputs[0].Name, tile)], [session.Outputs[0].Name])) output.Dispose();
    if (run > 0) times.Add(clock.Elapsed.TotalMilliseconds);
}
times.Sort();
Console.WriteLine($"median {times[times.Count / 2]:0} ms per tile (runs {string.Join(", ", times.ConvertAll(t => t.ToString("0", System.Globalization.CultureInfo.InvariantCulture)))})");
