using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Plugin;

/// <summary>
/// A function whose string parameter takes one of a few values, with those values as <c>enum</c> in its JSON schema,
/// so a planner (or an MCP client) sees the choices instead of guessing from the description. The function itself
/// still checks the value.
/// </summary>
internal sealed class EnumeratedParameter : DelegatingAIFunction
{
    public EnumeratedParameter(AIFunction inner, string parameter, IReadOnlyList<string> values) : base(inner)
    {
        var schema = JsonNode.Parse(inner.JsonSchema.GetRawText())!;
        var property = schema["properties"]?[parameter] as JsonObject
            ?? throw new ArgumentException($"the function '{inner.Name}' has no parameter '{parameter}'", nameof(parameter));
        property["enum"] = new JsonArray([.. values.Select(v => JsonValue.Create(v))]);
        JsonSchema = JsonSerializer.SerializeToElement(schema);
    }

    public override JsonElement JsonSchema { get; }
}
