using System.Text.Json;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Plugin;

/// <summary>
/// Checks JSON arguments (as a planner or an MCP client sends them) against the function's schema before binding, so a
/// wrong-typed argument is an <see cref="ArgumentException"/> that names the argument and says what it should be,
/// instead of a serializer error about "$". Arguments that are not JSON (.NET values from code) are bound as before.
/// </summary>
internal sealed class ArgumentTypeCheck(AIFunction inner) : DelegatingAIFunction(inner)
{
    protected override ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken)
    {
        if (JsonSchema.TryGetProperty("properties", out var properties))
            foreach (var (name, value) in arguments)
                if (value is JsonElement json && json.ValueKind != JsonValueKind.Null && properties.TryGetProperty(name, out var schema))
                    Check(name, json, schema);
        return base.InvokeCoreAsync(arguments, cancellationToken);
    }

    private static void Check(string name, JsonElement value, JsonElement schema)
    {
        if (!schema.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String) return;
        string expected = type.GetString()!;
        if (!Is(value, expected)) throw new ArgumentException($"argument '{name}' must be {Article(expected)}, not {Describe(value)}", name);
        if (expected == "array" && schema.TryGetProperty("items", out var items) && items.TryGetProperty("type", out var itemType) && itemType.ValueKind == JsonValueKind.String)
        {
            int index = 0;
            foreach (var item in value.EnumerateArray())
            {
                if (!Is(item, itemType.GetString()!))
                    throw new ArgumentException($"argument '{name}' must be an array of {itemType.GetString()}s; item {index} is {Describe(item)}", name);
                index++;
            }
        }
    }

    private static bool Is(JsonElement value, string type) => type switch
    {
        "string" => value.ValueKind == JsonValueKind.String,
        "array" => value.ValueKind == JsonValueKind.Array,
        "object" => value.ValueKind == JsonValueKind.Object,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
        _ => true,
    };

    private static string Article(string type) => type is "array" or "object" or "integer" ? $"an {type}" : $"a {type}";

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => value.ValueKind.ToString().ToLowerInvariant(),
    };
}
