using System.Text.Json;

namespace InternVit.SK.Hosting;

/// <summary>
/// A request body as JSON the rest of the server can read without surprises: valid UTF-8, valid JSON, and no string
/// (value or property name) that cannot become a .NET string, such as a lone UTF-16 surrogate <c>"\ud800"</c>.
/// Each problem is a 400 in OpenAI's shape.
/// </summary>
internal static class RequestBody
{
    public static JsonDocument ParseJson(ReadOnlyMemory<byte> body)
    {
        if (!System.Text.Unicode.Utf8.IsValid(body.Span)) throw OpenAiError.BadRequest("the request body is not valid UTF-8");
        try
        {
            // The reader checks the syntax but not what escaped strings decode to; decoding each one finds lone surrogates.
            var reader = new Utf8JsonReader(body.Span);
            while (reader.Read())
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped)
                    reader.GetString();
            return JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            throw OpenAiError.BadRequest($"the request body is not valid JSON: {e.Message}");
        }
        catch (InvalidOperationException)
        {
            throw OpenAiError.BadRequest("the request body holds a string that is not valid Unicode (a lone UTF-16 surrogate such as \\ud800)");
        }
    }
}
