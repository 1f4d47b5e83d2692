using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenAI.Chat;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace InternVit.SK.Plugin;

/// <summary>
/// An <see cref="IChatClient"/> over InternVL served elsewhere — vLLM, lmdeploy, or other <c>internvl serve</c>
/// processes — through Microsoft.Extensions.AI's OpenAI client, spread over several endpoints:
/// <list type="bullet">
/// <item>each endpoint's <c>GET /health</c> (<c>GET /v1/models</c> where that is 404) is checked every
/// <see cref="InternVLRemoteOptions.HealthCheckInterval"/>;
/// a request goes to the healthy endpoint with the fewest requests in flight;</item>
/// <item>an attempt that fails before the answer starts (connection refused or dropped, 429, 502, 503, 504, no first
/// token within <see cref="InternVLRemoteOptions.AttemptTimeout"/>) is retried on another endpoint with exponential
/// backoff (Polly); an endpoint that cannot be reached takes nothing until its health check answers again, and one
/// whose attempts keep failing rests behind an open circuit breaker;</item>
/// <item>a stream that breaks after its first token is never cut short silently: it ends with
/// <see cref="InternVLBackendStreamException"/>; when every attempt failed the request ends with
/// <see cref="InternVLBackendUnavailableException"/>.</item>
/// </list>
/// Options map as for <see cref="InternVLChatClient"/>: <c>"max_tiles"</c> goes in the field the engine reads
/// (<see cref="InternVLRemoteEngine"/>), <c>"skip_special_tokens"</c> and <c>"repetition_penalty"</c> as vLLM and
/// lmdeploy name them; any other additional property is refused (no engine field would carry it).
/// Safe for concurrent use.
/// </summary>
public sealed class InternVLRemoteChatClient : IChatClient
{
    private readonly InternVLRemoteOptions _options;
    private readonly RemoteEndpoint[] _endpoints;
    private readonly HttpClient _http;
    private readonly ResiliencePipeline _retry;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _healthChecks;
    private int _next;

    /// <summary>Creates the client and starts the endpoints' health checks (stopped by <see cref="Dispose"/>).</summary>
    /// <exception cref="ArgumentException">The options are incomplete or out of range; the message names the setting.</exception>
    public InternVLRemoteChatClient(InternVLRemoteOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("InternVit.SK.Remote");
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = options.HealthCheckTimeout, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _endpoints = [.. options.Endpoints.Select(url => new RemoteEndpoint(url, options, _http))];
        _retry = options.MaxRetries == 0 ? ResiliencePipeline.Empty : new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<AttemptFailedException>(),
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                OnRetry = args =>
                {
                    _logger.LogWarning("attempt {Attempt} failed ({Error}); retrying in {Delay} ms", args.AttemptNumber + 1,
                        args.Outcome.Exception?.Message, (int)args.RetryDelay.TotalMilliseconds);
                    return default;
                },
            })
            .Build();
        Metadata = new ChatClientMetadata("internvit-sk-remote", _endpoints[0].Url, options.ModelId);
        _healthChecks = Task.Run(() => CheckHealthAsync(_stopping.Token));
    }

    /// <summary>
    /// <see cref="ChatResponse.AdditionalProperties"/> (and the first <see cref="ChatResponseUpdate"/>'s) key: the URL of
    /// the endpoint that answered.
    /// </summary>
    public const string BackendProperty = "internvl_backend";

    /// <summary>Provider name, first endpoint and model id.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <summary>The endpoints' state now: health, circuit, requests in flight.</summary>
    public IReadOnlyList<InternVLBackendStatus> Status => [.. _endpoints.Select(e => e.Status)];

    /// <summary>Answers on one endpoint; retried on others (with backoff) while it fails before answering.</summary>
    /// <exception cref="InternVLBackendUnavailableException">Every attempt failed.</exception>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages.ToList();
        var remote = ToRemoteOptions(options, list);
        return await AttemptAsync(async (endpoint, token) =>
        {
            using var lease = endpoint.Enter();
            var response = await endpoint.Client.GetResponseAsync(list, remote, token).ConfigureAwait(false);
            (response.AdditionalProperties ??= [])[BackendProperty] = endpoint.Url.ToString();
            return response;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Streams the answer of one endpoint. Until its first token, a failing endpoint is replaced by another (with
    /// backoff); after it, a failure ends the stream with <see cref="InternVLBackendStreamException"/>.
    /// </summary>
    /// <exception cref="InternVLBackendUnavailableException">Every attempt failed before the answer started.</exception>
    /// <exception cref="InternVLBackendStreamException">The stream broke after it started.</exception>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages.ToList();
        var remote = ToRemoteOptions(options, list);
        var stream = await AttemptAsync((endpoint, token) => StartStreamAsync(endpoint, list, remote, token, cancellationToken), cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            bool finished = false;
            (stream.Started[0].AdditionalProperties ??= [])[BackendProperty] = stream.Endpoint.Url.ToString();
            foreach (var update in stream.Started)
            {
                finished |= update.FinishReason is not null;
                yield return update;
            }
            while (true)
            {
                ChatResponseUpdate update;
                try
                {
                    stream.Idle.CancelAfter(_options.StreamIdleTimeout);
                    if (!await stream.Updates.MoveNextAsync().ConfigureAwait(false)) break;
                    update = stream.Updates.Current;
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    if (IsTransient(e)) stream.Endpoint.MarkDown(e);
                    string why = e is OperationCanceledException ? $"it sent nothing for {_options.StreamIdleTimeout.TotalSeconds:0.#} s" : e.Message;
                    _logger.LogWarning("stream from {Endpoint} broke after it started: {Error}", stream.Endpoint.Url, why);
                    throw new InternVLBackendStreamException(stream.Endpoint.Url, $"the backend {stream.Endpoint.Url} failed in the middle of the answer ({why}); the answer is incomplete", e);
                }
                finished |= update.FinishReason is not null;
                yield return update;
            }
            if (!finished)
                throw new InternVLBackendStreamException(stream.Endpoint.Url, $"the backend {stream.Endpoint.Url} ended the stream without a finish reason; the answer is incomplete");
        }
    }

    /// <summary>Opens a stream and reads it up to its first token (or its end), so that a failure before then can be retried.</summary>
    private static async ValueTask<OpenStream> StartStreamAsync(RemoteEndpoint endpoint, List<ChatMessage> messages, ChatOptions options,
        CancellationToken attemptToken, CancellationToken cancellationToken)
    {
        var lease = endpoint.Enter();
        var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var updates = endpoint.Client.GetStreamingResponseAsync(messages, options, idle.Token).GetAsyncEnumerator(idle.Token);
        try
        {
            var started = new List<ChatResponseUpdate>();
            using (attemptToken.Register(idle.Cancel))
            {
                while (true)
                {
                    if (!await updates.MoveNextAsync().ConfigureAwait(false))
                    {
                        if (started.Any(u => u.FinishReason is not null)) break;
                        throw new IOException("the stream ended before its first token");
                    }
                    var update = updates.Current;
                    started.Add(update);
                    if (update.Text.Length > 0 || update.FinishReason is not null) break;
                }
            }
            attemptToken.ThrowIfCancellationRequested();
            return new OpenStream(endpoint, updates, started, lease, idle);
        }
        catch
        {
            await updates.DisposeAsync().ConfigureAwait(false);
            lease.Dispose();
            idle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="call"/> on the least busy available endpoint through its circuit breaker, within the attempt
    /// time limit, retried (Polly) on another endpoint while it fails transiently.
    /// </summary>
    private async ValueTask<T> AttemptAsync<T>(Func<RemoteEndpoint, CancellationToken, ValueTask<T>> call, CancellationToken cancellationToken)
    {
        var tried = new HashSet<RemoteEndpoint>();
        try
        {
            return await _retry.ExecuteAsync(async token =>
            {
                var endpoint = Pick(tried) ?? throw new AttemptFailedException(null,
                    new InternVLBackendUnavailableException($"no backend is available: {Describe()}"));
                tried.Add(endpoint);
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(token);
                attempt.CancelAfter(_options.AttemptTimeout);
                try
                {
                    return await endpoint.Breaker.ExecuteAsync(t => call(endpoint, t), attempt.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException e) when (attempt.IsCancellationRequested && !token.IsCancellationRequested)
                {
                    throw new AttemptFailedException(endpoint, new TimeoutRejectedException($"{endpoint.Url} did not start answering within {_options.AttemptTimeout.TotalSeconds:0.#} s", e));
                }
                catch (BrokenCircuitException e)
                {
                    throw new AttemptFailedException(endpoint, e);
                }
                catch (Exception e) when (IsTransient(e))
                {
                    if (IsUnreachable(e)) endpoint.MarkDown(e);
                    throw new AttemptFailedException(endpoint, e);
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (AttemptFailedException e)
        {
            throw new InternVLBackendUnavailableException(
                $"no backend could answer after {tried.Count} endpoint(s) and {_options.MaxRetries} retries; last error: {e.InnerException?.Message}", e.InnerException);
        }
    }

    /// <summary>The available endpoint with the fewest requests in flight, untried ones first; ties in turn.</summary>
    private RemoteEndpoint? Pick(HashSet<RemoteEndpoint> tried)
    {
        RemoteEndpoint? best = null;
        int start = Interlocked.Increment(ref _next);
        for (int pass = 0; pass < 2 && best is null; pass++)
            for (int i = 0; i < _endpoints.Length; i++)
            {
                var endpoint = _endpoints[(int)((uint)(start + i) % (uint)_endpoints.Length)];
                if (!endpoint.Available || (pass == 0 && tried.Contains(endpoint))) continue;
                if (best is null || endpoint.InFlight < best.InFlight) best = endpoint;
            }
        return best;
    }

    private string Describe() => string.Join("; ", _endpoints.Select(e => $"{e.Url} {(e.Status.Healthy ? "healthy" : "down")}, circuit {e.Status.Circuit}"));

    /// <summary>Failures worth another attempt: the endpoint could not be reached, dropped the connection, was busy or timed out.</summary>
    internal static bool IsTransient(Exception e) => e switch
    {
        HttpRequestException or IOException or TimeoutRejectedException => true,
        ClientResultException c => c.Status is 0 or 408 or 429 or 502 or 503 or 504 || c.InnerException is HttpRequestException or IOException,
        _ => false,
    };

    private static bool IsUnreachable(Exception e) => e is HttpRequestException or IOException || e is ClientResultException { Status: 0 };

    /// <summary>The options as the OpenAI client sends them: the additional properties become the engine's own fields.</summary>
    private ChatOptions ToRemoteOptions(ChatOptions? options, List<ChatMessage> messages)
    {
        var remote = options?.Clone() ?? new ChatOptions();
        remote.ModelId = _options.ModelId;
        var properties = remote.AdditionalProperties;
        remote.AdditionalProperties = null;
        int? maxTiles = ImageMaxTiles(messages);
        if (maxTiles is null && (properties is null || properties.Count == 0)) return remote;
        properties ??= [];
        bool? skipSpecialTokens = null;
        double? repetitionPenalty = null;
        foreach (var (key, value) in properties)
        {
            switch (key)
            {
                case InternVLChatClient.MaxTilesProperty:
                    int? requested = (int?)InternVLChatClient.NumberValue(key, value);
                    if (maxTiles is not null && requested is not null && requested != maxTiles)
                        throw new NotSupportedException($"the images ask for {maxTiles} tiles and the request for {requested}: a remote engine takes one tile limit per request");
                    maxTiles ??= requested;
                    break;
                case InternVLChatClient.SkipSpecialTokensProperty:
                    skipSpecialTokens = value switch
                    {
                        null => null,
                        bool b => b,
                        JsonElement { ValueKind: JsonValueKind.True or JsonValueKind.False } j => j.GetBoolean(),
                        string s when bool.TryParse(s, out bool parsed) => parsed,
                        _ => throw new ArgumentException($"the additional property '{key}' must be true or false"),
                    };
                    break;
                case InternVLChatClient.RepetitionPenaltyProperty:
                    repetitionPenalty = InternVLChatClient.NumberValue(key, value);
                    break;
                default:
                    throw new NotSupportedException($"the additional property '{key}' cannot be sent to a remote backend; supported: {InternVLChatClient.MaxTilesProperty}, {InternVLChatClient.SkipSpecialTokensProperty}, {InternVLChatClient.RepetitionPenaltyProperty}");
            }
        }
        var previous = remote.RawRepresentationFactory;
        remote.RawRepresentationFactory = client =>
        {
            var raw = previous?.Invoke(client) as ChatCompletionOptions ?? new ChatCompletionOptions();
#pragma warning disable SCME0001 // JsonPatch: the engines' own request fields, which the OpenAI SDK has no property for
            // vLLM: mm_processor_kwargs (lmdeploy: moved into the image parts by LmdeployImagePartPolicy).
            if (maxTiles is int tiles) raw.Patch.Set("$.mm_processor_kwargs.max_dynamic_patch"u8, tiles);
            if (skipSpecialTokens is bool skip) raw.Patch.Set("$.skip_special_tokens"u8, skip);
            if (repetitionPenalty is double penalty) raw.Patch.Set("$.repetition_penalty"u8, penalty);
#pragma warning restore SCME0001
            return raw;
        };
        return remote;
    }

    /// <summary>
    /// The images' own tile limit (an image content's <c>"max_tiles"</c> additional property, as the server reads lmdeploy's
    /// per-image field into): one for all, since vLLM's <c>mm_processor_kwargs</c> holds one; different limits are refused.
    /// </summary>
    private static int? ImageMaxTiles(List<ChatMessage> messages)
    {
        int? limit = null;
        foreach (var message in messages)
            foreach (var content in message.Contents)
                if (content.AdditionalProperties is { } properties && properties.TryGetValue(InternVLChatClient.MaxTilesProperty, out object? value)
                    && InternVLChatClient.NumberValue(InternVLChatClient.MaxTilesProperty, value) is double tiles)
                {
                    if (limit is not null && limit != (int)tiles)
                        throw new NotSupportedException($"the images ask for different tile limits ({limit} and {tiles}): a remote engine takes one tile limit per request");
                    limit = (int)tiles;
                }
        return limit;
    }

    private async Task CheckHealthAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(_options.HealthCheckInterval);
        do
        {
            await Task.WhenAll(_endpoints.Select(e => CheckAsync(e, stopping))).ConfigureAwait(false);
        }
        while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false));
    }

    private async Task CheckAsync(RemoteEndpoint endpoint, CancellationToken stopping)
    {
        bool wasHealthy = endpoint.Status.Healthy;
        string? error = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(_options.HealthCheckTimeout);
            var status = await GetStatusAsync(new Uri(endpoint.Root, "health"), timeout.Token).ConfigureAwait(false);
            string path = "/health";
            // An engine without /health (a 404) is asked for its models instead, which only a working API answers.
            if (status == HttpStatusCode.NotFound)
                (status, path) = (await GetStatusAsync(new Uri(endpoint.Root, "v1/models"), timeout.Token).ConfigureAwait(false), "/v1/models");
            if ((int)status is < 200 or > 299) error = $"GET {path} answered {(int)status}";
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
        {
            error = e is OperationCanceledException ? $"GET /health took longer than {_options.HealthCheckTimeout.TotalSeconds:0.#} s" : e.Message;
        }
        await endpoint.ReportHealthAsync(error is null, error).ConfigureAwait(false);
        if (wasHealthy != (error is null))
        {
            if (error is null) _logger.LogInformation("backend {Endpoint} is healthy again", endpoint.Url);
            else _logger.LogWarning("backend {Endpoint} is down: {Error}", endpoint.Url, error);
        }
    }

    private async Task<HttpStatusCode> GetStatusAsync(Uri url, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (_options.ApiKey is { } key) request.Headers.Authorization = new("Bearer", key);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        return response.StatusCode;
    }

    /// <summary>Metadata (<see cref="ChatClientMetadata"/>), the endpoints' state (<see cref="IReadOnlyList{InternVLBackendStatus}"/>), or this client.</summary>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType == typeof(IReadOnlyList<InternVLBackendStatus>)) return Status;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Stops the health checks and closes the connections.</summary>
    public void Dispose()
    {
        if (_stopping.IsCancellationRequested) return;
        _stopping.Cancel();
        try
        {
            _healthChecks.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        foreach (var endpoint in _endpoints) endpoint.Dispose();
        _http.Dispose();
        _stopping.Dispose();
    }

    /// <summary>One failed attempt, on its endpoint: what the retry strategy retries.</summary>
    private sealed class AttemptFailedException(RemoteEndpoint? endpoint, Exception inner) : Exception(inner.Message, inner)
    {
        public RemoteEndpoint? Endpoint { get; } = endpoint;
    }

    /// <summary>A stream that has started: its endpoint, the updates read so far and the rest.</summary>
    private sealed class OpenStream(RemoteEndpoint endpoint, IAsyncEnumerator<ChatResponseUpdate> updates, List<ChatResponseUpdate> started,
        IDisposable lease, CancellationTokenSource idle) : IAsyncDisposable
    {
        public RemoteEndpoint Endpoint { get; } = endpoint;

        public IAsyncEnumerator<ChatResponseUpdate> Updates { get; } = updates;

        public List<ChatResponseUpdate> Started { get; } = started;

        public CancellationTokenSource Idle { get; } = idle;

        public async ValueTask DisposeAsync()
        {
            try
            {
                await Updates.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                lease.Dispose();
                Idle.Dispose();
            }
        }
    }
}
