namespace InternVit.SK.Plugin;

/// <summary>Which engine serves the remote endpoints: it decides the request field that carries the per-request tile limit.</summary>
public enum InternVLRemoteEngine
{
    /// <summary>
    /// vLLM (<c>vllm serve</c>), and <c>internvl serve</c>, which reads the same field: the tile limit goes in the request's
    /// <c>mm_processor_kwargs: {"max_dynamic_patch": N}</c>.
    /// </summary>
    Vllm,

    /// <summary>lmdeploy (<c>lmdeploy serve api_server</c>): the tile limit goes in each image part, <c>image_url: {"url": ..., "max_dynamic_patch": N}</c>.</summary>
    Lmdeploy,
}

/// <summary>
/// The remote endpoints an <see cref="InternVLRemoteChatClient"/> spreads requests over, and how it survives them failing:
/// health checks, retries with backoff before the answer starts, a circuit breaker per endpoint, and time limits.
/// </summary>
public sealed record InternVLRemoteOptions
{
    /// <summary>The OpenAI-compatible endpoints, e.g. <c>http://gpu1:8000/v1</c> (a base URL without <c>/v1</c> is taken as its server's root). At least one.</summary>
    public IReadOnlyList<Uri> Endpoints { get; init; } = [];

    /// <summary>The model id the endpoints serve (what <c>vllm serve MODEL</c> or lmdeploy's <c>--model-name</c> named). Required.</summary>
    public string ModelId { get; init; } = "";

    /// <summary>The key the endpoints want as <c>Authorization: Bearer KEY</c> (null: none).</summary>
    public string? ApiKey { get; init; }

    /// <summary>The engine behind the endpoints (default vLLM).</summary>
    public InternVLRemoteEngine Engine { get; init; } = InternVLRemoteEngine.Vllm;

    /// <summary>
    /// How often each endpoint's <c>GET /health</c> (or <c>GET /v1/models</c>, where <c>/health</c> is 404) is asked
    /// (default 2 s); an endpoint that fails it takes no requests until it answers again.
    /// </summary>
    public TimeSpan HealthCheckInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Time limit of one health check (default 2 s).</summary>
    public TimeSpan HealthCheckTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Time limit of one attempt until the answer starts: the first token of a stream, or the whole answer of a request
    /// that is not streamed (default 5 minutes). Past it the attempt counts as failed and is retried elsewhere.
    /// </summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Longest silence inside a stream once it has started (default 2 minutes); past it the stream ends with <see cref="InternVLBackendStreamException"/>.</summary>
    public TimeSpan StreamIdleTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Retries after a failed attempt (connection failure, 429, 502, 503, 504, time-out) before anything was streamed (default 3).</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>The first retry's delay; each next one doubles it, with jitter (default 200 ms).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How long an endpoint's circuit stays open (no requests) after half or more of its recent attempts failed (default 15 s).</summary>
    public TimeSpan BreakDuration { get; init; } = TimeSpan.FromSeconds(15);

    internal void Validate()
    {
        if (Endpoints is null || Endpoints.Count == 0) throw new ArgumentException("at least one endpoint is needed", nameof(Endpoints));
        foreach (var endpoint in Endpoints)
            if (endpoint is null || !endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
                throw new ArgumentException($"the endpoint '{endpoint}' is not an absolute http(s) URL", nameof(Endpoints));
        if (string.IsNullOrWhiteSpace(ModelId)) throw new ArgumentException("the model id the endpoints serve is required", nameof(ModelId));
        foreach (var (value, name) in new[] { (HealthCheckInterval, nameof(HealthCheckInterval)), (HealthCheckTimeout, nameof(HealthCheckTimeout)),
            (AttemptTimeout, nameof(AttemptTimeout)), (StreamIdleTimeout, nameof(StreamIdleTimeout)), (RetryDelay, nameof(RetryDelay)), (BreakDuration, nameof(BreakDuration)) })
            if (value <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive");
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRetries, nameof(MaxRetries));
    }
}

/// <summary>One endpoint's state, as health checks and requests found it.</summary>
/// <param name="Endpoint">The endpoint's URL.</param>
/// <param name="Healthy">Whether its last health check (or request) succeeded.</param>
/// <param name="Circuit">Its circuit breaker: <c>closed</c> (takes requests), <c>open</c> (rests after failures), <c>half-open</c> (one trial request).</param>
/// <param name="InFlight">Requests it is answering now.</param>
/// <param name="LastError">Why it last failed, if it did.</param>
public sealed record InternVLBackendStatus(Uri Endpoint, bool Healthy, string Circuit, int InFlight, string? LastError);

/// <summary>No endpoint could take the request: all were down, busy (429/503) or failed within the retries. Nothing was streamed.</summary>
public sealed class InternVLBackendUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A streamed answer broke after its first tokens: the endpoint died, the connection dropped, it fell silent longer
/// than <see cref="InternVLRemoteOptions.StreamIdleTimeout"/>, or the stream ended without a finish reason. The tokens
/// already received are all there is; the request is not retried, since its start was already delivered.
/// </summary>
public sealed class InternVLBackendStreamException(Uri endpoint, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The endpoint that was streaming.</summary>
    public Uri Endpoint { get; } = endpoint;
}
