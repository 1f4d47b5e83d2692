using System.Text.Json;
using System.Text.Json.Serialization;

namespace InternVit.SK.ModelFolder;

/// <summary>Weight precision of a converted model folder's graphs (the manifest's <c>precision</c>).</summary>
[JsonConverter(typeof(PrecisionJsonConverter))]
public enum Precision
{
    /// <summary><c>fp32</c>: float32 weights, the reference.</summary>
    Fp32,

    /// <summary>
    /// <c>fp16</c>: every Linear weight stored as float16 beside a Cast to float32 (half the files; ONNX Runtime folds
    /// the casts at load, so memory and speed are fp32's).
    /// </summary>
    Fp16,

    /// <summary>
    /// <c>int8</c>: the LLM's Linear weights in 8-bit blocks of 32 (MatMulNBits), the vision graph's 8-bit per output
    /// channel (DynamicQuantizeMatMul).
    /// </summary>
    Int8,

    /// <summary><c>int4</c>: the LLM's Linear weights (lm_head included) in 4-bit blocks of 32; vision as <see cref="Int8"/>.</summary>
    Int4,

    /// <summary>
    /// <c>int4-prefill8</c>: <see cref="Int4"/> plus a prefill graph with the same ports whose body weights are 8-bit
    /// per output channel (DynamicQuantizeMatMul): prompts run it, decode steps the int4 decoder.
    /// </summary>
    Int4Prefill8,
}

/// <summary>The names precisions have in manifests, on the command line and in configuration.</summary>
public static class Precisions
{
    private static readonly string[] Names = ["fp32", "fp16", "int8", "int4", "int4-prefill8"];

    /// <summary>Every precision, in order of <see cref="Precision"/>.</summary>
    public static IReadOnlyList<Precision> All { get; } = Enum.GetValues<Precision>();

    /// <summary>The precision's name: <c>fp32</c>, <c>fp16</c>, <c>int8</c>, <c>int4</c>, <c>int4-prefill8</c>.</summary>
    public static string Name(this Precision precision) =>
        (uint)precision < (uint)Names.Length ? Names[(int)precision] : throw new ArgumentOutOfRangeException(nameof(precision), precision, "not a precision");

    /// <summary>The precision named <paramref name="name"/> (case-insensitive), or false.</summary>
    public static bool TryParse(string? name, out Precision precision)
    {
        for (int i = 0; i < Names.Length; i++)
        {
            if (string.Equals(Names[i], name, StringComparison.OrdinalIgnoreCase))
            {
                precision = (Precision)i;
                return true;
            }
        }
        precision = default;
        return false;
    }

    /// <summary>The precision named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No precision has that name; the message lists the names.</exception>
    public static Precision Parse(string name) => TryParse(name, out var precision) ? precision
        : throw new ArgumentException($"precision '{name}' is not supported; choose one of: {string.Join(", ", Names)}", nameof(name));
}

/// <summary>Writes and reads a <see cref="Precision"/> as its name.</summary>
internal sealed class PrecisionJsonConverter : JsonConverter<Precision>
{
    public override Precision Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Precisions.TryParse(reader.GetString(), out var precision) ? precision
            : throw new JsonException($"unknown precision '{reader.GetString()}'");

    public override void Write(Utf8JsonWriter writer, Precision value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name());
}
