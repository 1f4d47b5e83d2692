using System.Diagnostics;
using InternVit.SK.Generation;
using InternVit.SK.Onnx;
using InternVit.SK.Plugin;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace InternVit.SK.Hosting;

/// <summary>Registers InternVL — a local model, or remote engines (<see cref="InternVLOptions.Backend"/>) — with dependency injection.</summary>
public static class InternVLServiceCollectionExtensions
{
    internal const string LocalBackend = "local";
    internal const string RemoteBackend = "openai";

    /// <summary>Registers the model, its <see cref="IChatClient"/> and its <see cref="VisionTools"/>, with options bound from <paramref name="section"/>.</summary>
    public static IServiceCollection AddInternVL(this IServiceCollection services, IConfigurationSection section)
    {
        services.AddOptions<InternVLOptions>().Bind(section);
        return services.AddInternVLCore();
    }

    /// <summary>Registers the model, its <see cref="IChatClient"/> and its <see cref="VisionTools"/>, with options set by <paramref name="configure"/>.</summary>
    public static IServiceCollection AddInternVL(this IServiceCollection services, Action<InternVLOptions> configure)
    {
        services.AddOptions<InternVLOptions>().Configure(configure);
        return services.AddInternVLCore();
    }

    /// <summary>
    /// Singletons: <see cref="InternVLModel"/> (loaded on first use, or at start with <see cref="InternVLOptions.WarmUp"/>),
    /// <see cref="InternVLChatClient"/> as <see cref="IChatClient"/> — or, with the <c>openai</c> backend,
    /// <see cref="InternVLRemoteChatClient"/> as <see cref="IChatClient"/> — and <see cref="VisionTools"/> over that
    /// client; options validated at start.
    /// </summary>
    private static IServiceCollection AddInternVLCore(this IServiceCollection services)
    {
        services.AddOptions<InternVLOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<InternVLOptions>, InternVLOptionsValidator>());
        services.AddLogging();
        services.TryAddSingleton(provider =>
        {
            var o = provider.GetRequiredService<IOptions<InternVLOptions>>().Value;
            var loggerFactory = provider.GetRequiredService<ILoggerFactory>();
            var logger = loggerFactory.CreateLogger("InternVit.SK.Hosting");
            // ONNX Runtime's own messages (category OnnxRuntime) go to the host's logging too.
            OrtEnvironment.Configure(new OrtEnvironmentOptions { LoggerFactory = loggerFactory });
            var clock = Stopwatch.StartNew();
            logger.LogInformation("loading InternVL model from {Path}", o.ModelPath);
            var model = InternVLModel.LoadAsync(o.ModelPath, new InternVLModelOptions
            {
                CacheDirectory = o.CacheDirectory,
                ExecutionProvider = o.ExecutionProvider == "cuda" ? OrtExecutionProvider.Cuda : OrtExecutionProvider.Cpu,
                IntraOpThreads = o.Threads,
                MaxTiles = o.MaxTiles,
                ImageCacheBytes = (long)o.ImageCacheMiB << 20,
                PromptCacheEntries = o.PromptCacheEntries,
                PromptCacheBytes = (long)o.PromptCacheMiB << 20,
            }, new Progress<Export.ConversionProgress>(p => logger.LogInformation("converting: [{Step}/{Steps}] {Stage} {Detail}", p.Step, p.Steps, p.Stage, p.Detail)))
                .GetAwaiter().GetResult();
            logger.LogInformation("model {Directory} ready in {Ms} ms ({Template} template, context window {Window}, {Provider})",
                model.Directory, clock.ElapsedMilliseconds, model.Template.Name, model.ContextWindow, model.ExecutionProvider);
            return model;
        });
        services.TryAddSingleton(provider => provider.GetRequiredService<IOptions<InternVLOptions>>().Value.ToImageSources());
        services.TryAddSingleton(provider =>
        {
            var o = provider.GetRequiredService<IOptions<InternVLOptions>>().Value;
            return new InternVLChatClient(provider.GetRequiredService<InternVLModel>(),
                new InternVLChatClientOptions { ModelId = ModelId(o), ImageSources = provider.GetRequiredService<ImageSourceOptions>() });
        });
        services.TryAddSingleton(provider =>
        {
            var o = provider.GetRequiredService<IOptions<InternVLOptions>>().Value;
            return new InternVLRemoteChatClient(new InternVLRemoteOptions
            {
                Endpoints = [.. o.BackendEndpoints.Select(url => new Uri(url))],
                ModelId = ModelId(o),
                ApiKey = o.BackendApiKey?.Trim(),
                Engine = o.BackendEngine == "lmdeploy" ? InternVLRemoteEngine.Lmdeploy : InternVLRemoteEngine.Vllm,
                HealthCheckInterval = o.BackendHealthCheckInterval,
                AttemptTimeout = o.BackendAttemptTimeout,
                MaxRetries = o.BackendMaxRetries,
            }, provider.GetRequiredService<ILoggerFactory>());
        });
        services.TryAddSingleton<IChatClient>(provider => IsRemote(provider.GetRequiredService<IOptions<InternVLOptions>>().Value)
            ? provider.GetRequiredService<InternVLRemoteChatClient>()
            : provider.GetRequiredService<InternVLChatClient>());
        services.TryAddSingleton(provider =>
        {
            var o = provider.GetRequiredService<IOptions<InternVLOptions>>().Value;
            return new VisionTools(provider.GetRequiredService<IChatClient>(),
                new VisionToolsOptions { ImageSources = provider.GetRequiredService<ImageSourceOptions>(), MaxTiles = o.MaxTiles });
        });
        services.TryAddSingleton(provider =>
        {
            var o = provider.GetRequiredService<IOptions<InternVLOptions>>().Value;
            return new GenerationGate(o.MaxConcurrentGenerations, o.MaxQueuedRequests);
        });
        services.TryAddSingleton(provider => new RemoteImageFetcher(new ImageSources(provider.GetRequiredService<ImageSourceOptions>())));
        services.TryAddSingleton(provider =>
        {
            var o = provider.GetRequiredService<IOptions<InternVLOptions>>().Value;
            return new InternVLModelInfo(ModelId(o), IsRemote(o)
                ? DateTimeOffset.UtcNow.ToUnixTimeSeconds()
                : new DateTimeOffset(Directory.GetLastWriteTimeUtc(o.ModelPath)).ToUnixTimeSeconds());
        });
        services.AddHostedService<ModelWarmUp>();
        return services;
    }

    internal static string ModelId(InternVLOptions o) =>
        o.ModelId ?? Path.GetFileName(Path.GetFullPath(o.ModelPath).TrimEnd(Path.DirectorySeparatorChar));

    internal static bool IsRemote(InternVLOptions o) => o.Backend == RemoteBackend;
}

/// <summary>
/// Loads the model while the host starts (when <see cref="InternVLOptions.WarmUp"/> is on), so the first request does not
/// pay for it; with remote engines, starts their client and its health checks. It loads once every other service has started, so a server that cannot listen (a port in use, a bad
/// address) fails before the model is loaded.
/// </summary>
internal sealed class ModelWarmUp(IServiceProvider services, IOptions<InternVLOptions> options) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        // Remote engines: the client starts its health checks now, so the first request finds them checked.
        if (InternVLServiceCollectionExtensions.IsRemote(options.Value)) services.GetRequiredService<InternVLRemoteChatClient>();
        else if (options.Value.WarmUp) services.GetRequiredService<InternVLChatClient>();
        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
