using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace InternVit.SK.Hosting;

/// <summary>
/// The OpenAI-compatible HTTP API over the registered <see cref="IChatClient"/>: <c>POST /v1/chat/completions</c>
/// (text and image parts, streaming as server-sent events), <c>GET /v1/models</c>, <c>GET /health</c>, and the chat page
/// at <c>/</c>. Over remote engines (the <c>openai</c> backend) the same API makes the server a gateway; <c>/v1/models</c>
/// then lists each engine's state under <c>internvl_backends</c>.
/// </summary>
public static class InternVLEndpoints
{
    private static readonly JsonSerializerOptions Compact = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Maps the API and the page. Requires <c>AddInternVL</c>.</summary>
    public static IEndpointRouteBuilder MapInternVL(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/chat/completions", ChatCompletionsAsync);
        app.MapGet("/v1/models", Models);
        app.MapGet("/v1/models/{id}", (string id, InternVLModelInfo info, IChatClient client) => id == info.ModelId
            ? Results.Json(Model(info, client))
            : Results.Json(ModelNotFound(id, info).ToJson(), statusCode: StatusCodes.Status404NotFound));
        app.MapGet("/health", Health);
        app.MapGet("/", () => Results.Content(ChatPage.Html, "text/html; charset=utf-8"));
        return app;
    }

    /// <summary>
    /// The server's request checks, before the endpoints: the <c>Host</c> and <c>Origin</c> check against DNS rebinding
    /// and other sites' pages (400, 403), answers for unknown routes (404) and methods (405) in OpenAI's error JSON, and
    /// the API key on /v1 requests (401). Requires <c>AddInternVL</c>.
    /// </summary>
    public static IApplicationBuilder UseInternVL(this IApplicationBuilder app)
    {
        app.Use(async (context, next) =>
        {
            if (HostCheck.Check(context, context.RequestServices.GetRequiredService<IOptions<InternVLOptions>>().Value) is { } refused)
            {
                await WriteError(context, refused);
                return;
            }
            await next(context);
        });
        app.Use(async (context, next) =>
        {
            await next(context);
            if (context.Response.HasStarted) return;
            if (context.Response.StatusCode == StatusCodes.Status404NotFound)
                await WriteError(context, new OpenAiError(404, $"no such route: {context.Request.Method} {context.Request.Path}", code: "not_found"));
            else if (context.Response.StatusCode == StatusCodes.Status405MethodNotAllowed)
                await WriteError(context, new OpenAiError(405, $"{context.Request.Method} is not allowed on {context.Request.Path} (allowed: {context.Response.Headers.Allow})", code: "method_not_allowed"));
        });
        app.Use(async (context, next) =>
        {
            string? key = context.RequestServices.GetRequiredService<IOptions<InternVLOptions>>().Value.ApiKey?.Trim();
            if (key is not null && context.Request.Path.StartsWithSegments("/v1"))
            {
                string? header = context.Request.Headers.Authorization;
                if (header is null || !header.StartsWith("Bearer ", StringComparison.Ordinal) ||
                    !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(header[7..].Trim()), System.Text.Encoding.UTF8.GetBytes(key)))
                {
                    await WriteError(context, new OpenAiError(401, "Incorrect or missing API key: send it as 'Authorization: Bearer KEY'.", "invalid_request_error", code: "invalid_api_key"));
                    return;
                }
            }
            await next(context);
        });
        return app;
    }

    private static IResult Models(InternVLModelInfo info, IChatClient client) =>
        Results.Json(new JsonObject { ["object"] = "list", ["data"] = new JsonArray(Model(info, client)) });

    private static JsonObject Model(InternVLModelInfo info, IChatClient client)
    {
        var model = new JsonObject { ["id"] = info.ModelId, ["object"] = "model", ["created"] = info.Created, ["owned_by"] = "internvit-sk" };
        if (client.GetService<Plugin.InternVLRemoteChatClient>() is { } remote)
            model["internvl_backends"] = new JsonArray([.. remote.Status.Select(b => (JsonNode)new JsonObject
            {
                ["url"] = b.Endpoint.ToString(),
                ["healthy"] = b.Healthy,
                ["circuit"] = b.Circuit,
                ["in_flight"] = b.InFlight,
                ["last_error"] = b.LastError,
            })]);
        return model;
    }

    /// <summary>
    /// <c>GET /health</c> (no API key, as vLLM's): 200 <c>{"status": "ok"}</c> when requests can be answered, for a local
    /// model with what its caches hold against their bounds (<c>caches.image</c>: entries, bytes, max_bytes;
    /// <c>caches.prompt</c>: entries, bytes, max_entries, max_bytes); over remote engines 200 with <c>"degraded"</c> while
    /// some are down, 503 <c>"unavailable"</c> when none is up, with the counts (the engines' details are under
    /// <c>/v1/models</c>, behind the key).
    /// </summary>
    private static IResult Health(IChatClient client)
    {
        if (client.GetService<Plugin.InternVLRemoteChatClient>() is not { } remote)
        {
            var local = new JsonObject { ["status"] = "ok", ["backend"] = "local" };
            if (client.GetService<Generation.InternVLModel>() is { } model)
            {
                var caches = model.CacheUsage;
                local["caches"] = new JsonObject
                {
                    ["image"] = new JsonObject { ["entries"] = caches.Images, ["bytes"] = caches.ImageBytes, ["max_bytes"] = caches.ImageMaxBytes },
                    ["prompt"] = new JsonObject
                    {
                        ["entries"] = caches.Prompts, ["bytes"] = caches.PromptBytes, ["max_entries"] = caches.PromptMaxEntries, ["max_bytes"] = caches.PromptMaxBytes,
                    },
                };
            }
            return Results.Json(local);
        }
        var status = remote.Status;
        int healthy = status.Count(b => b.Healthy && b.Circuit != "open");
        string state = healthy == status.Count ? "ok" : healthy > 0 ? "degraded" : "unavailable";
        return Results.Json(new JsonObject
        {
            ["status"] = state,
            ["backend"] = "openai",
            ["backends"] = new JsonObject { ["healthy"] = healthy, ["total"] = status.Count },
        }, statusCode: healthy > 0 ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    private static OpenAiError ModelNotFound(string? id, InternVLModelInfo info) =>
        new(404, $"the model '{id}' does not exist; this server serves '{info.ModelId}'", code: "model_not_found", param: "model");

    private static async Task ChatCompletionsAsync(HttpContext context, IChatClient client, GenerationGate gate, IOptions<InternVLOptions> options,
        InternVLModelInfo info, RemoteImageFetcher fetcher, ILogger<InternVLOptions> logger)
    {
        var cancellationToken = context.RequestAborted;
        var o = options.Value;
        var clock = Stopwatch.StartNew();
        // The request is read and checked whole first; only then does it queue for the model. A client sending slowly
        // (or a bad request) holds a connection for at most the body's time limit, never a generation slot.
        ChatCompletionRequest request;
        try
        {
            // Only JSON: a browser's cross-site "simple" request (text/plain, form data) cannot reach the model.
            if (!(context.Request.ContentType ?? "").StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
                throw new OpenAiError(415, "the request body must be JSON (Content-Type: application/json)", code: "unsupported_media_type");
            using (var document = RequestBody.ParseJson(await RequestBody.ReadAsync(context, o, cancellationToken)))
                request = OpenAiProtocol.ParseRequest(document.RootElement, info.ModelId, o.MaxImageBytes, o.MaxImagesPerRequest);
            if (request.Model != info.ModelId) throw ModelNotFound(request.Model, info);
            await fetcher.FetchRemoteImagesAsync(request.Messages, cancellationToken);
        }
        catch (OpenAiError e)
        {
            await WriteError(context, e);
            return;
        }

        using var lease = await gate.EnterAsync(cancellationToken);
        if (lease is null)
        {
            context.Response.Headers.RetryAfter = "1";
            await WriteError(context, new OpenAiError(429, "the server is busy: too many requests are waiting for the model; retry shortly", "server_busy", code: "queue_full"));
            return;
        }

        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        try
        {
            if (!request.Stream)
            {
                var response = await client.GetResponseAsync(request.Messages, request.Options, cancellationToken);
                NameBackend(context, response.AdditionalProperties);
                await context.Response.WriteAsJsonAsync(OpenAiProtocol.Completion(id, created, info.ModelId, response), cancellationToken);
                Log(logger, response.Usage, clock, stream: false);
                return;
            }

            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            var updates = new List<ChatResponseUpdate>();
            bool first = true;
            double? firstTokenMs = null;
            await foreach (var update in client.GetStreamingResponseAsync(request.Messages, request.Options, cancellationToken))
            {
                updates.Add(update);
                string text = update.Text;
                string? reasoning = OpenAiProtocol.ReasoningText(update.Contents);
                if (text.Length > 0 || reasoning?.Length > 0) firstTokenMs ??= clock.Elapsed.TotalMilliseconds;
                if (text.Length == 0 && !(reasoning?.Length > 0) && !first) continue;
                // A reasoning piece goes out as "reasoning_content" (as vLLM streams it), an answer piece as "content".
                var delta = new JsonObject();
                if (reasoning?.Length > 0) delta["reasoning_content"] = reasoning;
                if (text.Length > 0 || delta.Count == 0) delta["content"] = text;
                if (first)
                {
                    delta["role"] = "assistant";
                    NameBackend(context, update.AdditionalProperties);
                }
                first = false;
                await WriteEvent(context, OpenAiProtocol.Chunk(id, created, info.ModelId, delta, null), cancellationToken);
            }
            var whole = updates.ToChatResponse();
            await WriteEvent(context, OpenAiProtocol.Chunk(id, created, info.ModelId, new JsonObject(), OpenAiProtocol.FinishReason(whole.FinishReason)), cancellationToken);
            if (request.IncludeUsage)
            {
                var usageChunk = OpenAiProtocol.UsageChunk(id, created, info.ModelId, whole.Usage);
                usageChunk["usage"]!["internvl_timings"] = OpenAiProtocol.Timings(whole.Usage, firstTokenMs, clock.Elapsed.TotalMilliseconds,
                    client.GetService<Plugin.InternVLChatClient>()?.Model.Manifest.Image.TokensPerTile);
                await WriteEvent(context, usageChunk, cancellationToken);
            }
            await context.Response.WriteAsync("data: [DONE]\n\n", cancellationToken);
            await context.Response.Body.FlushAsync(cancellationToken);
            Log(logger, whole.Usage, clock, stream: true);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogInformation("chat completion {Id} cancelled by the client after {Ms} ms", id, clock.ElapsedMilliseconds);
        }
        catch (Exception e) when (MapException(e) is OpenAiError error)
        {
            if (error.Status >= 500) logger.LogWarning("chat completion {Id} failed: {Message}", id, error.Message);
            if (!context.Response.HasStarted)
            {
                if (error.Status == StatusCodes.Status503ServiceUnavailable) context.Response.Headers.RetryAfter = "1";
                await WriteError(context, error);
            }
            else await WriteEvent(context, error.ToJson(), CancellationToken.None); // no [DONE]: the answer is incomplete
        }
    }

    /// <summary>Over remote engines: the <c>X-InternVL-Backend</c> response header names the engine that answered.</summary>
    private static void NameBackend(HttpContext context, AdditionalPropertiesDictionary? properties)
    {
        if (properties?.TryGetValue(Plugin.InternVLRemoteChatClient.BackendProperty, out object? backend) == true && backend is string url)
            context.Response.Headers["X-InternVL-Backend"] = url;
    }

    /// <summary>Errors of the request's own making (bad image, prompt too long, unsupported content) become 400s.</summary>
    private static OpenAiError? MapException(Exception e) => e switch
    {
        OpenAiError error => error,
        Imaging.ImageDecodeException d => d.Reason == Imaging.ImageDecodeError.TooLarge || d.Reason == Imaging.ImageDecodeError.TooManyPixels
            ? new OpenAiError(413, d.Message, code: "image_too_large")
            : OpenAiError.BadRequest(d.Message),
        Generation.ContextWindowExceededException c => new OpenAiError(400, c.Message, code: "context_length_exceeded"),
        // Remote engines: none could answer (nothing was sent yet), or the one streaming died mid-answer.
        Plugin.InternVLBackendUnavailableException u => new OpenAiError(503, u.Message, "server_error", code: "backend_unavailable"),
        Plugin.InternVLBackendStreamException b => new OpenAiError(502, b.Message, "server_error", code: "backend_stream_broken"),
        System.ClientModel.ClientResultException { Status: >= 400 and < 500 } r => new OpenAiError(r.Status, $"the backend refused the request: {r.Message}", code: "backend_refused"),
        NotSupportedException or ArgumentException or Plugin.ImageSourceException => OpenAiError.BadRequest(ErrorText.Of(e)),
        _ => null,
    };

    private static void Log(ILogger logger, UsageDetails? usage, Stopwatch clock, bool stream) =>
        logger.LogInformation("chat completion ({Mode}): {Prompt} prompt + {Completion} completion tokens in {Ms} ms",
            stream ? "stream" : "whole", usage?.InputTokenCount, usage?.OutputTokenCount, clock.ElapsedMilliseconds);

    private static async Task WriteEvent(HttpContext context, JsonObject payload, CancellationToken cancellationToken)
    {
        await context.Response.WriteAsync("data: " + payload.ToJsonString(Compact) + "\n\n", cancellationToken);
        await context.Response.Body.FlushAsync(cancellationToken);
    }

    private static async Task WriteError(HttpContext context, OpenAiError error)
    {
        context.Response.StatusCode = error.Status;
        await context.Response.WriteAsJsonAsync(error.ToJson());
    }
}

/// <summary>What <c>GET /v1/models</c> reports.</summary>
/// <param name="ModelId">The id clients send as <c>model</c>.</param>
/// <param name="Created">Unix time of the model folder.</param>
internal sealed record InternVLModelInfo(string ModelId, long Created);
