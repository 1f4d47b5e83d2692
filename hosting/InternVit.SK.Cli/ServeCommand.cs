using System.CommandLine;
using InternVit.SK.Hosting;
using Microsoft.Extensions.Hosting;

namespace InternVit.SK.Cli;

/// <summary>
/// <c>internvl serve MODEL_DIR [--urls URL] [--api-key KEY] ...</c>: the OpenAI-compatible HTTP API and the chat page (or,
/// with <c>--backend URL ...</c> instead of a model folder, the same in front of remote engines), and
/// <c>internvl mcp MODEL_DIR ...</c>: the vision tools as a Model Context Protocol server over stdio.
/// </summary>
internal static class ServeCommand
{
    public static Command CreateServe()
    {
        var host = new HostCliOptions();
        var urls = new Option<string>("--urls") { Description = "Where to listen, e.g. http://127.0.0.1:8000 (default: loopback only); several separated by ';'.", DefaultValueFactory = _ => InternVLServer.DefaultUrls };
        InputChecks.Validate(urls, value =>
        {
            foreach (string url in value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                try
                {
                    Microsoft.AspNetCore.Http.BindingAddress.Parse(url);
                }
                catch (FormatException)
                {
                    throw new ArgumentException($"'{url}' is not a URL to listen on (e.g. http://127.0.0.1:8000)");
                }
            }
        });
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on /v1 requests (or set INTERNVL_API_KEY, which other users cannot see in the process list)." };
        var allowHosts = new Option<string[]>("--allow-host") { Description = "A host name the server answers to besides its addresses and localhost (e.g. behind a proxy); repeat for several." };
        var command = new Command("serve", "Serve an OpenAI-compatible chat API (with images) and a chat page at /, over a local model or as a gateway in front of remote engines (--backend).") { urls, apiKey, allowHosts };
        host.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            string? key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("INTERNVL_API_KEY");
            await using var app = InternVLServer.BuildHttpServer(o =>
            {
                host.Apply(parse, o);
                o.ApiKey = key;
                o.AllowedHosts = [.. parse.GetValue(allowHosts) ?? []];
            }, parse.GetRequiredValue(urls), HostCliOptions.QuietHostFailures);
            await app.StartAsync(cancellationToken);
            parse.InvocationConfiguration.Output.WriteLine($"serving {string.Join(", ", app.Urls)} (OpenAI API at /v1, chat page at /); Ctrl+C stops");
            // Until Ctrl-C (the command's token) or SIGTERM (the host's console lifetime stops the application).
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }

    public static Command CreateMcp()
    {
        var host = new HostCliOptions();
        var command = new Command("mcp", "Serve the vision tools over the Model Context Protocol (stdio).");
        host.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var server = InternVLServer.BuildMcpServer(o => host.Apply(parse, o), HostCliOptions.QuietHostFailures);
            await server.RunAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}

/// <summary>The model and policy options <c>serve</c> and <c>mcp</c> share.</summary>
internal sealed class HostCliOptions
{
    private readonly Argument<DirectoryInfo?> _model = new("MODEL_DIR")
    {
        Description = "A converted model folder, or an original InternVL checkpoint (converted once into the cache). Not with --backend.",
        Arity = ArgumentArity.ZeroOrOne,
    };
    private readonly Option<string[]> _backends = new("--backend")
    {
        Description = "Answer through a remote OpenAI-compatible engine (vLLM, lmdeploy, another internvl serve) at this URL, e.g. http://gpu1:8000/v1, instead of a local model; repeat for several (health-checked, least busy first, retried, circuit-broken). Needs --model-id.",
    };
    private readonly Option<string?> _backendKey = new("--backend-api-key") { Description = "The key the engines want (or set INTERNVL_BACKEND_API_KEY); separate from --api-key." };
    private readonly Option<string> _backendEngine = new("--backend-engine")
    {
        Description = "The engine behind --backend: vllm (also internvl serve) or lmdeploy; decides where the tile limit is sent.",
        DefaultValueFactory = _ => "vllm",
    };
    private readonly Option<string?> _modelId = new("--model-id") { Description = "The model id the API reports and accepts (default: the model folder's name); with --backend, the id the engines serve." };
    private readonly Option<DirectoryInfo[]> _roots = new("--allow-image-root") { Description = "A folder whose images tools and file: URIs may read; repeat for several." };
    private readonly Option<string[]> _hosts = new("--allow-image-host") { Description = "A host https image URLs may come from; repeat for several (enables remote images)." };
    private readonly Option<int?> _maxTiles = new("--max-tiles") { Description = "Default most tiles per image." };
    private readonly Option<int> _threads = new("--threads") { Description = "Threads per operator (0: ONNX Runtime's default).", DefaultValueFactory = _ => 0 };
    private readonly Option<int> _concurrent = new("--max-concurrent") { Description = "Generations in progress at once.", DefaultValueFactory = _ => 4 };
    private readonly Option<int> _queue = new("--max-queue") { Description = "Requests that may wait; more get 429.", DefaultValueFactory = _ => 32 };
    private readonly Option<DirectoryInfo?> _cache = new("--cache-dir") { Description = "Where original checkpoints are converted to." };
    private readonly Option<int?> _imageCache = new("--image-cache-mb") { Description = "MiB of image features kept for images sent again (default 256; 0: off)." };
    private readonly Option<int?> _promptCache = new("--prompt-cache-mb") { Description = "MiB of KV caches kept for prompts that repeat a start, e.g. a chat's history (default 512; 0: off)." };
    private readonly Option<int?> _promptCaches = new("--prompt-cache-entries") { Description = "KV caches kept for prompt reuse (default 4; 0: off)." };
    private readonly Option<bool> _noCache = new("--no-cache") { Description = "Turn both caches off: encode every image and prefill every prompt in full." };

    /// <summary>
    /// A host that fails to start (bad settings, a port in use) throws, and the command prints that as one line; the
    /// host's own log of the failure, with its stack trace, is left out.
    /// </summary>
    public static void QuietHostFailures(Microsoft.Extensions.Logging.ILoggingBuilder logging) =>
        Microsoft.Extensions.Logging.FilterLoggingBuilderExtensions.AddFilter(logging, "Microsoft.Extensions.Hosting.Internal.Host", Microsoft.Extensions.Logging.LogLevel.None);

    public void AddTo(Command command)
    {
        command.Add(_model);
        _backendEngine.AcceptOnlyFromAmong("vllm", "lmdeploy");
        InputChecks.Validate(_backends, urls =>
        {
            foreach (string url in urls)
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                    throw new ArgumentException($"'{url}' is not an engine's http(s) URL (e.g. http://gpu1:8000/v1)");
        });
        foreach (var option in (Option[])[_backends, _backendKey, _backendEngine, _modelId, _roots, _hosts, _maxTiles, _threads, _concurrent, _queue, _cache, _imageCache, _promptCache, _promptCaches, _noCache]) command.Add(option);
        command.Validators.Add(result =>
        {
            bool remote = (result.GetValue(_backends) ?? []).Length > 0;
            bool local = result.GetValue(_model) is not null;
            if (remote && local) result.AddError("give either MODEL_DIR (a local model) or --backend URLs (remote engines), not both");
            else if (!remote && !local) result.AddError("MODEL_DIR is required (or --backend URLs of remote engines)");
            else if (remote && string.IsNullOrWhiteSpace(result.GetValue(_modelId))) result.AddError("--backend needs --model-id: the model id the engines serve");
        });
    }

    public void Apply(ParseResult parse, InternVLOptions o)
    {
        var backends = parse.GetValue(_backends) ?? [];
        if (backends.Length > 0)
        {
            o.Backend = "openai";
            o.BackendEndpoints = [.. backends];
            o.BackendApiKey = parse.GetValue(_backendKey) ?? Environment.GetEnvironmentVariable("INTERNVL_BACKEND_API_KEY");
            o.BackendEngine = parse.GetRequiredValue(_backendEngine);
        }
        else o.ModelPath = parse.GetRequiredValue(_model)!.FullName;
        o.ModelId = parse.GetValue(_modelId);
        o.AllowedImageRoots = [.. (parse.GetValue(_roots) ?? []).Select(d => d.FullName)];
        o.AllowedImageHosts = [.. parse.GetValue(_hosts) ?? []];
        o.AllowRemoteImages = o.AllowedImageHosts.Count > 0;
        o.MaxTiles = parse.GetValue(_maxTiles);
        o.Threads = parse.GetValue(_threads);
        o.MaxConcurrentGenerations = parse.GetValue(_concurrent);
        o.MaxQueuedRequests = parse.GetValue(_queue);
        o.CacheDirectory = parse.GetValue(_cache)?.FullName;
        bool off = parse.GetValue(_noCache);
        o.ImageCacheMiB = off ? 0 : parse.GetValue(_imageCache) ?? o.ImageCacheMiB;
        o.PromptCacheMiB = off ? 0 : parse.GetValue(_promptCache) ?? o.PromptCacheMiB;
        o.PromptCacheEntries = off ? 0 : parse.GetValue(_promptCaches) ?? o.PromptCacheEntries;
    }
}
