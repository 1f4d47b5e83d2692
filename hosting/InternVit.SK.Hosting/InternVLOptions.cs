using InternVit.SK.Generation;
using Microsoft.Extensions.Options;

namespace InternVit.SK.Hosting;

/// <summary>
/// Settings of a hosted InternVL model (bind from configuration, e.g. the <c>InternVL</c> section, or set in code).
/// Validated when the host starts; every problem is reported with the setting's name.
/// </summary>
public sealed class InternVLOptions : Plugin.ImageAccessSettings
{
    /// <summary>
    /// Who answers: <c>local</c> (default), the model at <see cref="ModelPath"/> in this process; or <c>openai</c>, the
    /// OpenAI-compatible engines at <see cref="BackendEndpoints"/> (vLLM, lmdeploy, other <c>internvl serve</c>
    /// processes) through a resilient client, which makes the HTTP server a gateway and the MCP tools remote.
    /// </summary>
    public string Backend { get; set; } = "local";

    /// <summary>With <see cref="Backend"/> <c>openai</c>: the engines' URLs, e.g. <c>http://gpu1:8000/v1</c>. <see cref="ModelId"/> names their model.</summary>
    public List<string> BackendEndpoints { get; set; } = [];

    /// <summary>The key the engines want as <c>Authorization: Bearer KEY</c> (separate from <see cref="ApiKey"/>, which this server asks of its clients).</summary>
    public string? BackendApiKey { get; set; }

    /// <summary>The engine behind <see cref="BackendEndpoints"/>: <c>vllm</c> (default; also <c>internvl serve</c>) or <c>lmdeploy</c>. It decides where the tile limit is sent.</summary>
    public string BackendEngine { get; set; } = "vllm";

    /// <summary>How often each engine's <c>GET /health</c> is checked.</summary>
    public TimeSpan BackendHealthCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Time limit of one attempt on an engine until its answer starts (first streamed token, or the whole answer otherwise).</summary>
    public TimeSpan BackendAttemptTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Retries on other engines after an attempt failed before anything was streamed.</summary>
    public int BackendMaxRetries { get; set; } = 3;

    /// <summary>A converted model folder, or an original InternVL checkpoint (converted once into <see cref="CacheDirectory"/>). Required with the <c>local</c> backend.</summary>
    public string ModelPath { get; set; } = "";

    /// <summary>Where original checkpoints are converted to (default: ~/.cache/internvit-sk).</summary>
    public string? CacheDirectory { get; set; }

    /// <summary><c>cpu</c> (default) or <c>cuda</c> (falls back to the CPU with a warning when unavailable).</summary>
    public string ExecutionProvider { get; set; } = "cpu";

    /// <summary>Threads per operator (0: ONNX Runtime's default).</summary>
    public int Threads { get; set; }

    /// <summary>Default most tiles per image (null: the checkpoint's).</summary>
    public int? MaxTiles { get; set; }

    /// <summary>Most MiB of image features kept for images sent again (0: off); see <c>InternVLModelOptions.ImageCacheBytes</c>.</summary>
    public int ImageCacheMiB { get; set; } = (int)(InternVLModelOptions.DefaultImageCacheBytes >> 20);

    /// <summary>Most KV caches kept for requests that repeat a prompt's start, e.g. a chat's history (0: off); see <c>InternVLModelOptions.PromptCacheEntries</c>.</summary>
    public int PromptCacheEntries { get; set; } = InternVLModelOptions.DefaultPromptCacheEntries;

    /// <summary>Most MiB of kept KV caches (0: off); see <c>InternVLModelOptions.PromptCacheBytes</c>.</summary>
    public int PromptCacheMiB { get; set; } = (int)(InternVLModelOptions.DefaultPromptCacheBytes >> 20);

    /// <summary>Generations in progress at once (they interleave token by token on the one model).</summary>
    public int MaxConcurrentGenerations { get; set; } = 4;

    /// <summary>Requests that may wait for a generation slot; beyond that the server answers 429.</summary>
    public int MaxQueuedRequests { get; set; } = 32;

    /// <summary>Most images in one request, its history included.</summary>
    public int MaxImagesPerRequest { get; set; } = 16;

    /// <summary>Largest HTTP request body accepted by the server, in bytes.</summary>
    public long MaxRequestBytes { get; set; } = 64L << 20;

    /// <summary>
    /// Most time to receive a request's body. The body is read before the request queues for the model, so a client
    /// that sends slowly holds a connection, never a generation slot; past this it gets 408.
    /// </summary>
    public TimeSpan RequestBodyTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Slowest rate a request's body may arrive at, in bytes per second after a 5-second grace (0: no minimum); slower gets 408.</summary>
    public double MinRequestBodyBytesPerSecond { get; set; } = 1024;

    /// <summary>Load the model (and convert it, on first use) while the host starts, instead of on the first request.</summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>The model id the HTTP API reports and accepts (default: the model folder's name).</summary>
    public string? ModelId { get; set; }

    /// <summary>
    /// Host names the HTTP server answers to besides IP addresses, <c>localhost</c> and the names in the URLs it listens on
    /// (the <c>Host</c> check against DNS rebinding): exact names, <c>*.example.com</c> for sub-domains, or <c>*</c> for any.
    /// Web pages at these names may also send requests.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>A key clients must send as <c>Authorization: Bearer KEY</c> (null: no key; surrounding spaces are ignored).</summary>
    public string? ApiKey { get; set; }
}

/// <summary>Checks <see cref="InternVLOptions"/> at start-up and names each bad setting.</summary>
internal sealed class InternVLOptionsValidator : IValidateOptions<InternVLOptions>
{
    public ValidateOptionsResult Validate(string? name, InternVLOptions o)
    {
        var problems = new List<string>();
        if (o.Backend == InternVLServiceCollectionExtensions.RemoteBackend)
        {
            if (o.BackendEndpoints.Count == 0) problems.Add("Backend 'openai' needs BackendEndpoints (the engines' URLs, e.g. http://gpu1:8000/v1)");
            foreach (string url in o.BackendEndpoints)
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                    problems.Add($"BackendEndpoints entry '{url}' is not an http(s) URL");
            if (string.IsNullOrWhiteSpace(o.ModelId)) problems.Add("Backend 'openai' needs ModelId: the model id the engines serve");
            if (o.BackendEngine is not ("vllm" or "lmdeploy")) problems.Add($"BackendEngine '{o.BackendEngine}' is neither 'vllm' nor 'lmdeploy'");
            if (o.BackendHealthCheckInterval <= TimeSpan.Zero) problems.Add($"BackendHealthCheckInterval must be positive, not {o.BackendHealthCheckInterval}");
            if (o.BackendAttemptTimeout <= TimeSpan.Zero) problems.Add($"BackendAttemptTimeout must be positive, not {o.BackendAttemptTimeout}");
            if (o.BackendMaxRetries < 0) problems.Add($"BackendMaxRetries must be 0 or more, not {o.BackendMaxRetries}");
            if (o.BackendApiKey is not null && o.BackendApiKey.Trim().Length == 0) problems.Add("BackendApiKey is blank; leave it unset for no key, or set a real key");
        }
        else if (o.Backend != InternVLServiceCollectionExtensions.LocalBackend)
            problems.Add($"Backend '{o.Backend}' is neither 'local' nor 'openai'");
        else if (o.BackendEndpoints.Count > 0) problems.Add("BackendEndpoints are set but Backend is 'local'; set Backend to 'openai' to use them");
        else if (string.IsNullOrWhiteSpace(o.ModelPath)) problems.Add("ModelPath is required (a converted model folder or an original InternVL checkpoint)");
        else if (!Directory.Exists(o.ModelPath)) problems.Add($"ModelPath '{o.ModelPath}' does not exist");
        if (o.ExecutionProvider is not ("cpu" or "cuda")) problems.Add($"ExecutionProvider '{o.ExecutionProvider}' is neither 'cpu' nor 'cuda'");
        if (o.Threads < 0) problems.Add($"Threads must be 0 (default) or more, not {o.Threads}");
        if (o.MaxTiles is < 1 or > Imaging.Tiling.TilingOptions.MaxSupportedTiles)
            problems.Add($"MaxTiles must be between 1 and {Imaging.Tiling.TilingOptions.MaxSupportedTiles}, not {o.MaxTiles}");
        if (o.ImageCacheMiB < 0) problems.Add($"ImageCacheMiB must be 0 (off) or more, not {o.ImageCacheMiB}");
        if (o.PromptCacheEntries < 0) problems.Add($"PromptCacheEntries must be 0 (off) or more, not {o.PromptCacheEntries}");
        if (o.PromptCacheMiB < 0) problems.Add($"PromptCacheMiB must be 0 (off) or more, not {o.PromptCacheMiB}");
        if (o.MaxConcurrentGenerations < 1) problems.Add($"MaxConcurrentGenerations must be at least 1, not {o.MaxConcurrentGenerations}");
        if (o.MaxQueuedRequests < 0) problems.Add($"MaxQueuedRequests must be 0 or more, not {o.MaxQueuedRequests}");
        o.AddImageAccessProblems(problems);
        if (o.MaxImagesPerRequest < 1) problems.Add($"MaxImagesPerRequest must be at least 1, not {o.MaxImagesPerRequest}");
        if (o.ApiKey is not null && o.ApiKey.Trim().Length == 0) problems.Add("ApiKey is blank; leave it unset for no key, or set a real key");
        if (o.MaxRequestBytes < 1024) problems.Add($"MaxRequestBytes must be at least 1024, not {o.MaxRequestBytes}");
        if (o.RequestBodyTimeout <= TimeSpan.Zero) problems.Add($"RequestBodyTimeout must be positive, not {o.RequestBodyTimeout}");
        if (!(o.MinRequestBodyBytesPerSecond >= 0) || double.IsInfinity(o.MinRequestBodyBytesPerSecond))
            problems.Add($"MinRequestBodyBytesPerSecond must be 0 (no minimum) or more, not {o.MinRequestBodyBytesPerSecond}");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems.Select(p => "InternVL: " + p));
    }
}
