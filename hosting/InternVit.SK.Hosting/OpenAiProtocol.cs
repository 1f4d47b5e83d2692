using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Hosting;

/// <summary>An error the HTTP API reports in OpenAI's shape: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
internal sealed class OpenAiError(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;

    public JsonObject ToJson() => new()
    {
        ["error"] = new JsonObject { ["message"] = Message, ["type"] = type, ["param"] = param, ["code"] = code },
    };

    public static OpenAiError BadRequest(string message, string? param = null) => new(400, message, param: param);
}

/// <summary>A parsed <c>POST /v1/chat/completions</c> request.</summary>
internal sealed record ChatCompletionRequest(string Model, List<ChatMessage> Messages, ChatOptions Options, bool Stream, bool IncludeUsage);

/// <summary>
/// OpenAI's chat-completions wire format ↔ Microsoft.Extensions.AI: requests become <see cref="ChatMessage"/>s with
/// <see cref="TextContent"/> and image <see cref="DataContent"/> (or <see cref="UriContent"/> for http(s) URLs, which
/// the URL policy decides on later), and responses and stream chunks are written back in OpenAI's shapes.
/// </summary>
internal static class OpenAiProtocol
{
    /// <summary>Parses and checks a request body; every problem is a 400 naming the field.</summary>
    public static ChatCompletionRequest ParseRequest(JsonElement root, string defaultModel, long maxImageBytes, int maxImages)
    {
        if (root.ValueKind != JsonValueKind.Object) throw OpenAiError.BadRequest("the request body must be a JSON object");
        RefuseUnsupportedFields(root);
        string model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : defaultModel;
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            throw OpenAiError.BadRequest("'messages' must be a non-empty array", "messages");

        var list = new List<ChatMessage>();
        int index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            string where = $"messages[{index++}]";
            if (message.ValueKind != JsonValueKind.Object) throw OpenAiError.BadRequest($"{where} must be an object", where);
            string role = message.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "";
            var chatRole = role switch
            {
                "system" or "developer" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                _ => throw OpenAiError.BadRequest($"{where}.role '{role}' is not supported (system, developer, user or assistant)", $"{where}.role"),
            };
            var contents = ParseContent(message, where, maxImageBytes);
            if (chatRole == ChatRole.Assistant && Reasoning(message, where) is { } reasoning) contents.Insert(0, new TextReasoningContent(reasoning));
            list.Add(new ChatMessage(chatRole, contents));
        }
        int images = list.Sum(m => m.Contents.Count(c => c is DataContent or UriContent));
        if (images > maxImages) throw OpenAiError.BadRequest($"the request has {images} images; the limit is {maxImages}", "messages");

        var options = new ChatOptions { ModelId = model };
        if ((Number(root, "max_completion_tokens") ?? Number(root, "max_tokens")) is double maxTokens)
        {
            if (maxTokens < 1 || maxTokens != Math.Floor(maxTokens)) throw OpenAiError.BadRequest("max_tokens must be a positive integer", "max_tokens");
            options.MaxOutputTokens = (int)Math.Min(maxTokens, int.MaxValue);
        }
        if (Number(root, "temperature") is double temperature)
        {
            if (temperature is < 0 or > 2) throw OpenAiError.BadRequest("temperature must be between 0 and 2", "temperature");
            options.Temperature = (float)temperature;
        }
        if (Number(root, "top_p") is double topP)
        {
            if (topP is <= 0 or > 1) throw OpenAiError.BadRequest("top_p must be in (0, 1]", "top_p");
            options.TopP = (float)topP;
        }
        if (Number(root, "seed") is double seed) options.Seed = (long)seed;
        if (root.TryGetProperty("stop", out var stop))
        {
            options.StopSequences = stop.ValueKind switch
            {
                JsonValueKind.String => [stop.GetString()!],
                JsonValueKind.Array => stop.EnumerateArray().Select(s => s.ValueKind == JsonValueKind.String ? s.GetString()! : throw OpenAiError.BadRequest("stop must be a string or an array of strings", "stop")).ToList(),
                JsonValueKind.Null => null,
                _ => throw OpenAiError.BadRequest("stop must be a string or an array of strings", "stop"),
            };
            // As OpenAI: at most 4 stop strings; each short, since every token is matched against them.
            if (options.StopSequences is { } stops && (stops.Count > 4 || stops.Any(x => x.Length > 256)))
                throw OpenAiError.BadRequest("stop takes at most 4 strings of at most 256 characters", "stop");
        }
        if (ThinkingRequested(root) is bool thinking)
            (options.AdditionalProperties ??= [])[Plugin.InternVLChatClient.ThinkingProperty] = thinking;
        // The engines' own fields, read as vLLM reads them so that this server can stand in for vLLM behind a gateway:
        // mm_processor_kwargs.max_dynamic_patch (InternVL's tile limit), skip_special_tokens, repetition_penalty.
        if (root.TryGetProperty("mm_processor_kwargs", out var kwargs) && kwargs.ValueKind != JsonValueKind.Null)
        {
            if (kwargs.ValueKind != JsonValueKind.Object) throw OpenAiError.BadRequest("mm_processor_kwargs must be an object", "mm_processor_kwargs");
            foreach (var kwarg in kwargs.EnumerateObject())
                if (kwarg.Name != "max_dynamic_patch")
                    throw new OpenAiError(400, $"mm_processor_kwargs.{kwarg.Name} is not supported; this server reads max_dynamic_patch", param: $"mm_processor_kwargs.{kwarg.Name}", code: "unsupported_parameter");
            if (kwargs.TryGetProperty("max_dynamic_patch", out var tiles))
                (options.AdditionalProperties ??= [])[Plugin.InternVLChatClient.MaxTilesProperty] = MaxTiles(tiles, "mm_processor_kwargs.max_dynamic_patch");
        }
        if (root.TryGetProperty("skip_special_tokens", out var skip) && skip.ValueKind != JsonValueKind.Null)
            (options.AdditionalProperties ??= [])[Plugin.InternVLChatClient.SkipSpecialTokensProperty] = skip.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? skip.GetBoolean() : throw OpenAiError.BadRequest("skip_special_tokens must be true or false", "skip_special_tokens");
        if (Number(root, "repetition_penalty") is double penalty)
        {
            if (!(penalty > 0) || double.IsInfinity(penalty)) throw OpenAiError.BadRequest("repetition_penalty must be a positive number", "repetition_penalty");
            (options.AdditionalProperties ??= [])[Plugin.InternVLChatClient.RepetitionPenaltyProperty] = penalty;
        }
        bool stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        bool includeUsage = root.TryGetProperty("stream_options", out var so) && so.ValueKind == JsonValueKind.Object
            && so.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
        return new ChatCompletionRequest(model, list, options, stream, includeUsage);
    }

    /// <summary>The request fields this server reads.</summary>
    private static readonly HashSet<string> Supported = new(StringComparer.Ordinal)
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop", "stream", "stream_options",
        "chat_template_kwargs", "mm_processor_kwargs", "skip_special_tokens", "repetition_penalty",
    };

    /// <summary>
    /// vLLM's (and Qwen3's) switch for thinking mode: <c>"chat_template_kwargs": {"enable_thinking": true}</c>. It is the
    /// only template argument this server reads; others are refused by name.
    /// </summary>
    private static bool? ThinkingRequested(JsonElement root)
    {
        if (!root.TryGetProperty("chat_template_kwargs", out var kwargs) || kwargs.ValueKind == JsonValueKind.Null) return null;
        if (kwargs.ValueKind != JsonValueKind.Object) throw OpenAiError.BadRequest("chat_template_kwargs must be an object", "chat_template_kwargs");
        bool? thinking = null;
        foreach (var argument in kwargs.EnumerateObject())
        {
            if (argument.Name != "enable_thinking")
                throw new OpenAiError(400, $"chat_template_kwargs.{argument.Name} is not supported (only enable_thinking)", param: $"chat_template_kwargs.{argument.Name}", code: "unsupported_parameter");
            thinking = argument.Value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Null => null,
                _ => throw OpenAiError.BadRequest("chat_template_kwargs.enable_thinking must be true or false", "chat_template_kwargs.enable_thinking"),
            };
        }
        return thinking;
    }

    /// <summary>An assistant message's reasoning: <c>reasoning_content</c> (vLLM up to 0.10, DeepSeek), or <c>reasoning</c> (vLLM from 0.11).</summary>
    private static string? Reasoning(JsonElement message, string where)
    {
        foreach (string name in (string[])["reasoning_content", "reasoning"])
        {
            if (!message.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) continue;
            return value.ValueKind == JsonValueKind.String ? value.GetString() : throw OpenAiError.BadRequest($"{where}.{name} must be a string", $"{where}.{name}");
        }
        return null;
    }

    /// <summary>The reasoning text of response contents (<see cref="TextReasoningContent"/>), null when there is none.</summary>
    public static string? ReasoningText(IEnumerable<AIContent> contents)
    {
        string? reasoning = null;
        foreach (var content in contents)
            if (content is TextReasoningContent r) reasoning = (reasoning ?? "") + r.Text;
        return reasoning;
    }

    /// <summary>A tile limit (vLLM's and lmdeploy's <c>max_dynamic_patch</c>): a whole number from 1 to the supported most.</summary>
    private static int MaxTiles(JsonElement value, string name)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int tiles) || tiles < 1 || tiles > Imaging.Tiling.TilingOptions.MaxSupportedTiles)
            throw OpenAiError.BadRequest($"{name} must be a whole number from 1 to {Imaging.Tiling.TilingOptions.MaxSupportedTiles}", name);
        return tiles;
    }

    /// <summary>Fields that change nothing about the answer here (bookkeeping for OpenAI's platform); accepted and ignored.</summary>
    private static readonly HashSet<string> Ignored = new(StringComparer.Ordinal)
    {
        "user", "metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier", "parallel_tool_calls",
    };

    /// <summary>OpenAI fields this server does not implement, accepted only with the value that asks for nothing (or null).</summary>
    private static readonly Dictionary<string, Func<JsonElement, bool>> NoOpValues = new(StringComparer.Ordinal)
    {
        ["n"] = v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n == 1,
        ["logprobs"] = v => v.ValueKind == JsonValueKind.False,
        ["top_logprobs"] = v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int k) && k == 0,
        ["frequency_penalty"] = v => v.ValueKind == JsonValueKind.Number && v.GetDouble() == 0,
        ["presence_penalty"] = v => v.ValueKind == JsonValueKind.Number && v.GetDouble() == 0,
        ["logit_bias"] = v => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any(),
        ["tools"] = v => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0,
        ["functions"] = v => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0,
        ["tool_choice"] = v => v.ValueKind == JsonValueKind.String && v.GetString() is "none" or "auto",
        ["function_call"] = v => v.ValueKind == JsonValueKind.String && v.GetString() is "none" or "auto",
        ["response_format"] = v => v.ValueKind == JsonValueKind.Object && v.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "text",
        ["modalities"] = v => v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(m => m.ValueKind == JsonValueKind.String && m.GetString() == "text"),
        ["audio"] = _ => false,
        ["prediction"] = _ => false,
        ["reasoning_effort"] = _ => false,
        ["verbosity"] = _ => false,
        ["web_search_options"] = _ => false,
    };

    /// <summary>
    /// A field the server would otherwise ignore is refused, naming it, so that a client never gets an answer that
    /// silently lacks what it asked for (log probabilities, JSON mode, tool calls, several choices ...).
    /// </summary>
    private static void RefuseUnsupportedFields(JsonElement root)
    {
        foreach (var field in root.EnumerateObject())
        {
            string name = field.Name;
            if (Supported.Contains(name) || Ignored.Contains(name) || field.Value.ValueKind == JsonValueKind.Null) continue;
            if (!NoOpValues.TryGetValue(name, out var isNoOp))
                throw new OpenAiError(400, $"unrecognized request argument supplied: {name}", param: name, code: "unsupported_parameter");
            if (!isNoOp(field.Value))
                throw new OpenAiError(400, name switch
                {
                    "n" => "only n = 1 is supported",
                    "tools" or "functions" or "tool_choice" or "function_call" => $"'{name}' is not supported: this model server does not call tools",
                    "response_format" => "'response_format' is not supported: only plain text answers (type 'text')",
                    _ => $"'{name}' is not supported by this model server",
                }, param: name, code: "unsupported_parameter");
        }
    }

    private static double? Number(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Number) throw OpenAiError.BadRequest($"{name} must be a number", name);
        return value.GetDouble();
    }

    private static List<AIContent> ParseContent(JsonElement message, string where, long maxImageBytes)
    {
        if (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null) return [];
        if (content.ValueKind == JsonValueKind.String) return [new TextContent(content.GetString())];
        if (content.ValueKind != JsonValueKind.Array) throw OpenAiError.BadRequest($"{where}.content must be a string or an array of parts", $"{where}.content");
        var parts = new List<AIContent>();
        int index = 0;
        foreach (var part in content.EnumerateArray())
        {
            string at = $"{where}.content[{index++}]";
            string type = part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
            switch (type)
            {
                case "text":
                    parts.Add(new TextContent(part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String ? text.GetString()
                        : throw OpenAiError.BadRequest($"{at}.text must be a string", $"{at}.text")));
                    break;
                case "image_url":
                    parts.Add(ParseImage(part, at, maxImageBytes));
                    break;
                default:
                    throw OpenAiError.BadRequest($"{at}.type '{type}' is not supported (text or image_url)", $"{at}.type");
            }
        }
        return parts;
    }

    private static AIContent ParseImage(JsonElement part, string at, long maxImageBytes)
    {
        string? url = part.TryGetProperty("image_url", out var image) ? image.ValueKind switch
        {
            JsonValueKind.Object when image.TryGetProperty("url", out var u) && u.ValueKind == JsonValueKind.String => u.GetString(),
            JsonValueKind.String => image.GetString(),
            _ => null,
        } : null;
        if (string.IsNullOrEmpty(url)) throw OpenAiError.BadRequest($"{at}.image_url.url is required", $"{at}.image_url");
        // lmdeploy's per-image tile limit: "image_url": {"url": ..., "max_dynamic_patch": N}.
        int? maxTiles = image.ValueKind == JsonValueKind.Object && image.TryGetProperty("max_dynamic_patch", out var tiles) && tiles.ValueKind != JsonValueKind.Null
            ? MaxTiles(tiles, $"{at}.image_url.max_dynamic_patch") : null;
        var content = ParseImageUrl(url, at, maxImageBytes);
        if (maxTiles is int limit) (content.AdditionalProperties ??= [])[Plugin.InternVLChatClient.MaxTilesProperty] = limit;
        return content;
    }

    private static AIContent ParseImageUrl(string url, string at, long maxImageBytes)
    {
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            int comma = url.IndexOf(',');
            if (comma < 0 || !url.AsSpan(0, comma).EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
                throw OpenAiError.BadRequest($"{at}.image_url must be a base64 data: URI (data:image/png;base64,...)", $"{at}.image_url");
            long approximateBytes = (url.Length - comma - 1) / 4L * 3;
            if (approximateBytes > maxImageBytes)
                throw new OpenAiError(413, $"{at}: the image is about {approximateBytes:N0} bytes; the limit is {maxImageBytes:N0}", param: $"{at}.image_url", code: "image_too_large");
            string mediaType = url[5..comma].Split(';')[0];
            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(url[(comma + 1)..]);
            }
            catch (FormatException)
            {
                throw OpenAiError.BadRequest($"{at}.image_url: the data: URI is not valid base64", $"{at}.image_url");
            }
            return new DataContent(bytes, mediaType.Length > 0 ? mediaType : "application/octet-stream");
        }
        if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            return new UriContent(uri, "image/*");
        throw OpenAiError.BadRequest($"{at}.image_url must be a data: URI or an http(s) URL", $"{at}.image_url");
    }

    public static string FinishReason(ChatFinishReason? reason) =>
        reason == ChatFinishReason.Length ? "length" : reason == ChatFinishReason.ContentFilter ? "content_filter" : "stop";

    public static JsonObject Usage(UsageDetails? usage)
    {
        long prompt = usage?.InputTokenCount ?? 0, completion = usage?.OutputTokenCount ?? 0;
        return new JsonObject
        {
            ["prompt_tokens"] = prompt,
            ["completion_tokens"] = completion,
            ["total_tokens"] = usage?.TotalTokenCount ?? prompt + completion,
            // As OpenAI reports prompt caching: the prompt tokens whose KV came from a kept cache.
            ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = usage?.CachedInputTokenCount ?? 0 },
        };
    }

    public static JsonObject Completion(string id, long created, string model, ChatResponse response) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject
        {
            ["index"] = 0,
            ["message"] = Message(response),
            ["finish_reason"] = FinishReason(response.FinishReason),
        }),
        ["usage"] = Usage(response.Usage),
    };

    /// <summary>The assistant message: <c>content</c>, and <c>reasoning_content</c> when the answer had a think block (as vLLM's reasoning parsers give it).</summary>
    private static JsonObject Message(ChatResponse response)
    {
        var message = new JsonObject { ["role"] = "assistant", ["content"] = response.Text };
        if (ReasoningText(response.Messages.SelectMany(m => m.Contents)) is { } reasoning) message["reasoning_content"] = reasoning;
        return message;
    }

    public static JsonObject Chunk(string id, long created, string model, JsonObject delta, string? finishReason) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finishReason }),
    };

    /// <summary>
    /// The non-standard <c>internvl_timings</c> of a stream's usage chunk: <c>time_to_first_token_ms</c> (from the request's
    /// arrival, queueing and the vision pass included), <c>tokens_per_second</c> (the completion tokens after the first over
    /// the time after it; null under two tokens) and <c>image_tiles</c> (the prompt's image tokens over the tokens per tile).
    /// </summary>
    public static JsonObject Timings(UsageDetails? usage, double? firstTokenMs, double totalMs, int? tokensPerTile)
    {
        long completion = usage?.OutputTokenCount ?? 0;
        long? imageTokens = usage?.AdditionalCounts is { } counts && counts.TryGetValue(Plugin.InternVLChatClient.ImageTokensCount, out long n) ? n : null;
        double? rate = firstTokenMs is double first && completion > 1 && totalMs > first ? Math.Round((completion - 1) / ((totalMs - first) / 1000), 2) : null;
        return new JsonObject
        {
            ["time_to_first_token_ms"] = firstTokenMs is double f ? Math.Round(f, 1) : null,
            ["tokens_per_second"] = rate,
            ["image_tiles"] = imageTokens is long tokens && tokensPerTile is int perTile and > 0 ? tokens / perTile : null,
        };
    }

    public static JsonObject UsageChunk(string id, long created, string model, UsageDetails? usage) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(),
        ["usage"] = Usage(usage),
    };
}
