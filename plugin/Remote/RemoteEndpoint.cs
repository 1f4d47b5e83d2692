using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;
using Polly;
using Polly.CircuitBreaker;

namespace InternVit.SK.Plugin;

/// <summary>
/// One remote endpoint: its Microsoft.Extensions.AI OpenAI chat client (the OpenAI SDK's own retries off: the
/// <see cref="InternVLRemoteChatClient"/> retries across endpoints), its circuit breaker, its health and its load.
/// </summary>
internal sealed class RemoteEndpoint : IDisposable
{
    private readonly CircuitBreakerStateProvider _circuit = new();
    private readonly CircuitBreakerManualControl _control = new();
    private int _inFlight;
    private volatile bool _healthy = true;
    private volatile string? _lastError;

    public RemoteEndpoint(Uri url, InternVLRemoteOptions options, HttpClient http)
    {
        // "http://host:8000/v1" and "http://host:8000" both name the server at http://host:8000/.
        string path = url.AbsolutePath.TrimEnd('/');
        if (path.EndsWith("/v1", StringComparison.Ordinal)) path = path[..^3];
        Root = new Uri(url, path + "/");
        Url = url;
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = new Uri(Root, "v1"),
            RetryPolicy = new ClientRetryPolicy(0),
            NetworkTimeout = options.AttemptTimeout,
            Transport = new HttpClientPipelineTransport(http),
        };
        if (options.Engine == InternVLRemoteEngine.Lmdeploy) clientOptions.AddPolicy(new LmdeployImagePartPolicy(), PipelinePosition.PerCall);
        Client = new OpenAI.Chat.ChatClient(options.ModelId, new ApiKeyCredential(options.ApiKey ?? "none"), clientOptions).AsIChatClient();
        Breaker = new ResiliencePipelineBuilder().AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            FailureRatio = 0.5,
            MinimumThroughput = 4,
            SamplingDuration = TimeSpan.FromSeconds(30),
            BreakDuration = options.BreakDuration,
            // A busy engine (429) is retried elsewhere but is not broken: only failures count against its circuit.
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => InternVLRemoteChatClient.IsTransient(e) && e is not ClientResultException { Status: 429 }),
            StateProvider = _circuit,
            ManualControl = _control,
        }).Build();
    }

    /// <summary>The URL as configured.</summary>
    public Uri Url { get; }

    /// <summary>The server's root (where <c>/health</c> and <c>/v1</c> are).</summary>
    public Uri Root { get; }

    public IChatClient Client { get; }

    public ResiliencePipeline Breaker { get; }

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Healthy and not resting after failures: may take a request.</summary>
    public bool Available => _healthy && _circuit.CircuitState != CircuitState.Open && _circuit.CircuitState != CircuitState.Isolated;

    public InternVLBackendStatus Status => new(Url, _healthy, _circuit.CircuitState switch
    {
        CircuitState.Closed => "closed",
        CircuitState.Open or CircuitState.Isolated => "open",
        _ => "half-open",
    }, InFlight, _lastError);

    /// <summary>Counts a request in until the returned lease is disposed.</summary>
    public IDisposable Enter()
    {
        Interlocked.Increment(ref _inFlight);
        return new Lease(this);
    }

    /// <summary>A request could not reach it: no more requests until a health check finds it back.</summary>
    public void MarkDown(Exception e)
    {
        _healthy = false;
        _lastError = e.Message;
    }

    /// <summary>The result of a health check; an endpoint found back has its circuit closed at once.</summary>
    public async Task ReportHealthAsync(bool healthy, string? error)
    {
        bool wasDown = !_healthy;
        _healthy = healthy;
        if (!healthy) _lastError = error;
        else if (wasDown && _circuit.CircuitState != CircuitState.Closed) await _control.CloseAsync().ConfigureAwait(false);
    }

    public void Dispose() => Client.Dispose();

    private sealed class Lease(RemoteEndpoint endpoint) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) Interlocked.Decrement(ref endpoint._inFlight);
        }
    }
}
