using System.Text.Json;

namespace InternVit.SK.Cli;

/// <summary>Sums the kernel times of an ONNX Runtime profile (its JSON trace) per operator type.</summary>
internal static class OrtProfileSummary
{
    /// <summary>(operator type, total ms, calls), largest first.</summary>
    public static List<(string Op, double Ms, int Calls)> ByOperator(string profilePath)
    {
        using var stream = File.OpenRead(profilePath);
        using var document = JsonDocument.Parse(stream);
        var totals = new Dictionary<string, (double Us, int Calls)>(StringComparer.Ordinal);
        foreach (var e in document.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
            if (!e.TryGetProperty("name", out var name) || !name.GetString()!.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            string op = e.TryGetProperty("args", out var args) && args.TryGetProperty("op_name", out var o) ? o.GetString()! : "?";
            double us = e.GetProperty("dur").GetDouble();
            totals[op] = totals.TryGetValue(op, out var t) ? (t.Us + us, t.Calls + 1) : (us, 1);
        }
        return totals.Select(kv => (kv.Key, kv.Value.Us / 1000, kv.Value.Calls)).OrderByDescending(x => x.Item2).ToList();
    }

    public static void Write(TextWriter output, string title, string profilePath, int top = 10)
    {
        var ops = ByOperator(profilePath);
        double total = ops.Sum(x => x.Ms);
        output.WriteLine($"  profile {title}: {total:0} ms in kernels ({profilePath})");
        foreach (var (op, ms, calls) in ops.Take(top))
            output.WriteLine($"    {op,-34} {ms,9:0.0} ms {100 * ms / total,5:0.0}%  {calls} calls");
    }
}
