using InternVit.SK.Generation;
using InternVit.SK.Plugin;
using InternVit.SK.SemanticKernel;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Microsoft.SemanticKernel;

/// <summary>
/// Registers a local InternVL model with a kernel: as its chat service (<see cref="IChatCompletionService"/> and
/// <see cref="IChatClient"/>, chat histories with images), and its vision tools as a kernel plugin. The same methods
/// serve an application's own container: <c>services.AddKernel()</c> returns an <see cref="IKernelBuilder"/>.
/// </summary>
public static class InternVLKernelBuilderExtensions
{
    /// <summary>The name <see cref="AddInternVLVision"/> gives the plugin unless told otherwise.</summary>
    public const string DefaultPluginName = "vision";

    /// <summary>
    /// Registers the model at <paramref name="modelPath"/> (a converted folder, or an original checkpoint converted once
    /// into the cache) as the kernel's <see cref="IChatCompletionService"/> and <see cref="IChatClient"/> under
    /// <paramref name="serviceId"/>. The model loads on first use and is disposed with the kernel's service provider.
    /// </summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="modelPath">The model folder or checkpoint.</param>
    /// <param name="serviceId">The service key (null: the default service). Give one to sit beside another chat service, e.g. a cloud planner: SK then picks this model only for requests naming it.</param>
    /// <param name="configure">Sets the <see cref="InternVLKernelOptions"/> (image folders, tokens, tiles, execution provider).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">A setting is out of range, or an allowed image folder does not exist.</exception>
    public static IKernelBuilder AddInternVLChatCompletion(this IKernelBuilder builder, string modelPath, string? serviceId = null,
        Action<InternVLKernelOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        var options = new InternVLKernelOptions { ModelPath = modelPath };
        configure?.Invoke(options);
        return builder.AddInternVL(options, serviceId, model: null);
    }

    /// <summary>
    /// Registers the model that <paramref name="configuration"/> describes (a section with <c>ModelPath</c> and the other
    /// <see cref="InternVLKernelOptions"/> names, e.g. <c>configuration.GetSection("InternVL")</c>); otherwise as
    /// <see cref="AddInternVLChatCompletion(IKernelBuilder, string, string?, Action{InternVLKernelOptions}?)"/>.
    /// </summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="configuration">The configuration section to bind.</param>
    /// <param name="serviceId">The service key (null: the default service).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException"><c>ModelPath</c> is missing or a setting is out of range.</exception>
    public static IKernelBuilder AddInternVLChatCompletion(this IKernelBuilder builder, IConfiguration configuration, string? serviceId = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new InternVLKernelOptions();
        configuration.Bind(options);
        return builder.AddInternVL(options, serviceId, model: null);
    }

    /// <summary>
    /// Registers an already loaded <paramref name="model"/> (not owned: dispose it after the kernel) as the kernel's
    /// <see cref="IChatCompletionService"/> and <see cref="IChatClient"/> under <paramref name="serviceId"/>;
    /// <see cref="InternVLKernelOptions.ModelPath"/> and the loading settings are ignored.
    /// </summary>
    /// <param name="builder">The kernel builder.</param>
    /// <param name="model">The loaded model.</param>
    /// <param name="serviceId">The service key (null: the default service).</param>
    /// <param name="configure">Sets the <see cref="InternVLKernelOptions"/> (image folders, tokens, tiles).</param>
    /// <returns>The builder.</returns>
    public static IKernelBuilder AddInternVLChatCompletion(this IKernelBuilder builder, InternVLModel model, string? serviceId = null,
        Action<InternVLKernelOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(model);
        var options = new InternVLKernelOptions();
        configure?.Invoke(options);
        return builder.AddInternVL(options, serviceId, model);
    }

    /// <summary>
    /// Adds the vision tools of the model registered under <paramref name="serviceId"/> (by <c>AddInternVLChatCompletion</c>)
    /// as a kernel plugin: <c>describe_image</c>, <c>ask_image</c>, <c>extract_text</c>, <c>answer_document_question</c>
    /// and <c>locate</c>, which Semantic Kernel's function calling offers a planner as <c>vision_describe_image</c> and so
    /// on. They read images under the registration's <see cref="InternVLKernelOptions"/> policy (allowed folders, hosts,
    /// sizes) and spend its <see cref="InternVLKernelOptions.MaxOutputTokens"/> per call.
    /// </summary>
    /// <param name="plugins">The kernel builder's plugins.</param>
    /// <param name="serviceId">The service key the model was registered under.</param>
    /// <param name="pluginName">The plugin's name (default <c>vision</c>).</param>
    /// <returns>The plugins.</returns>
    public static IKernelBuilderPlugins AddInternVLVision(this IKernelBuilderPlugins plugins, string? serviceId = null, string pluginName = DefaultPluginName)
    {
        ArgumentNullException.ThrowIfNull(plugins);
        ArgumentException.ThrowIfNullOrWhiteSpace(pluginName);
        plugins.Services.AddKeyedSingleton(serviceId, (services, key) =>
        {
            var options = services.GetKeyedService<InternVLKernelOptions>(key)
                ?? throw new InvalidOperationException($"no InternVL model is registered under the service id '{key}'; call AddInternVLChatCompletion(..., serviceId: {(key is null ? "null" : $"\"{key}\"")}) first");
            return new VisionTools(services.GetRequiredKeyedService<InternVLModel>(key), options.ToVisionToolsOptions());
        });
        plugins.Services.AddSingleton(services => services.GetRequiredKeyedService<VisionTools>(serviceId).AsKernelPlugin(pluginName));
        return plugins;
    }

    /// <summary>The model, its chat client and the chat completion service over it, keyed by <paramref name="serviceId"/>.</summary>
    private static IKernelBuilder AddInternVL(this IKernelBuilder builder, InternVLKernelOptions options, string? serviceId, InternVLModel? model)
    {
        options.Validate(needsModelPath: model is null);
        var services = builder.Services;
        services.AddKeyedSingleton(serviceId, options);
        if (model is not null)
            services.AddKeyedSingleton(serviceId, model); // an instance: the container does not dispose it
        else
            services.AddKeyedSingleton(serviceId, (provider, _) => Load(options, provider.GetService<ILoggerFactory>()));
        services.AddKeyedSingleton(serviceId, (provider, key) => new InternVLChatClient(provider.GetRequiredKeyedService<InternVLModel>(key), options.ToChatClientOptions()));
        services.AddKeyedSingleton<IChatClient>(serviceId, (provider, key) => provider.GetRequiredKeyedService<InternVLChatClient>(key));
        services.AddKeyedSingleton(serviceId, (provider, key) => provider.GetRequiredKeyedService<InternVLChatClient>(key).AsChatCompletionService(provider));
        return builder;
    }

    private static InternVLModel Load(InternVLKernelOptions options, ILoggerFactory? loggerFactory)
    {
        var logger = loggerFactory?.CreateLogger("InternVit.SK.SemanticKernel");
        logger?.LogInformation("loading InternVL model from {Path}", options.ModelPath);
        var progress = logger is null ? null : new Progress<InternVit.SK.Export.ConversionProgress>(p =>
            logger.LogInformation("converting: [{Step}/{Steps}] {Stage} {Detail}", p.Step, p.Steps, p.Stage, p.Detail));
        // A DI factory is synchronous; loading awaits with ConfigureAwait(false) throughout, so this cannot deadlock.
        return InternVLModel.LoadAsync(options.ModelPath, options.ToModelOptions(), progress).GetAwaiter().GetResult();
    }
}
