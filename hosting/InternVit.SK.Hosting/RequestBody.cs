using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using MinDataRate = Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace InternVit.SK.Hosting;

/// <summary>
/// A request body, read whole before the request may queue for the model (within the size limit, at a minimum rate,
/// within a time limit), then parsed as JSON the rest of the server can read without surprises: valid UTF-8, valid
/// JSON, and no string (value or property name) that cannot become a .NET string, such as a lone UTF-16 surrogate
/// <c>"\ud800"</c>. Each problem is an error in OpenAI's shape: 408 too slow, 413 too large, 400 not valid.
/// </summary>
internal static class RequestBody
{
    public static async Task<ReadOnlyMemory<byte>> ReadAsync(HttpContext context, InternVLOptions o, CancellationToken cancellationToken)
    {
        if (context.Request.ContentLength > o.MaxRequestBytes)
            throw new OpenAiError(413, $"the request is {context.Request.ContentLength:N0} bytes; the limit is {o.MaxRequestBytes:N0}", code: "request_too_large");
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = o.MaxRequestBytes;
        if (context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate)
            rate.MinDataRate = o.MinRequestBodyBytesPerSecond > 0 ? new MinDataRate(o.MinRequestBodyBytesPerSecond, TimeSpan.FromSeconds(5)) : null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(o.RequestBodyTimeout);
        var body = new MemoryStream();
        try
        {
            await context.Request.Body.CopyToAsync(body, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw TooSlow($"the request body did not arrive within {o.RequestBodyTimeout.TotalSeconds:0.#} s");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new OpenAiError(413, $"the request is larger than {o.MaxRequestBytes:N0} bytes", code: "request_too_large");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status408RequestTimeout)
        {
            throw TooSlow($"the request body arrived slower than {o.MinRequestBodyBytesPerSecond:0.#} bytes per second");
        }
        return body.GetBuffer().AsMemory(0, (int)body.Length);
    }

    private static OpenAiError TooSlow(string message) => new(408, message, code: "request_timeout");

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
