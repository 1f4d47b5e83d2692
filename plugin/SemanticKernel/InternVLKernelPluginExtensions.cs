using InternVit.SK.Plugin;

namespace Microsoft.SemanticKernel;

/// <summary>The vision tools of <see cref="VisionTools"/> as a Semantic Kernel plugin.</summary>
public static class InternVLKernelPluginExtensions
{
    private const string PluginDescription =
        "Vision tools over a local InternVL vision-language model: describe an image, answer a question about it, read its text (OCR), " +
        "answer a question about a document of page images, and find where something is (bounding boxes). Images are given as strings: " +
        "a file path under the allowed image folder, a data URI, or an allowed http(s) URL.";

    /// <summary>
    /// The tools as a kernel plugin named <paramref name="pluginName"/>: <c>describe_image</c>, <c>ask_image</c>,
    /// <c>extract_text</c>, <c>answer_document_question</c> and <c>locate</c>, each with the description and the JSON
    /// schema (image arguments are strings) a planner sees; results are the typed records as JSON. The tools are not
    /// owned: dispose them after the kernel.
    /// </summary>
    /// <param name="tools">The vision tools.</param>
    /// <param name="pluginName">The plugin's name (default <c>vision</c>).</param>
    /// <returns>The plugin.</returns>
    public static KernelPlugin AsKernelPlugin(this VisionTools tools, string pluginName = InternVLKernelBuilderExtensions.DefaultPluginName)
    {
        ArgumentNullException.ThrowIfNull(tools);
        ArgumentException.ThrowIfNullOrWhiteSpace(pluginName);
        return KernelPluginFactory.CreateFromFunctions(pluginName, PluginDescription, tools.AsAIFunctions().Select(function => function.AsKernelFunction()));
    }

    /// <summary>Adds <paramref name="tools"/> to <paramref name="plugins"/> as a plugin named <paramref name="pluginName"/> (see <see cref="AsKernelPlugin"/>).</summary>
    /// <param name="plugins">A kernel's plugins, e.g. <c>kernel.Plugins</c>.</param>
    /// <param name="tools">The vision tools (not owned).</param>
    /// <param name="pluginName">The plugin's name (default <c>vision</c>).</param>
    /// <returns>The plugin added.</returns>
    public static KernelPlugin AddInternVLVision(this KernelPluginCollection plugins, VisionTools tools, string pluginName = InternVLKernelBuilderExtensions.DefaultPluginName)
    {
        ArgumentNullException.ThrowIfNull(plugins);
        var plugin = tools.AsKernelPlugin(pluginName);
        plugins.Add(plugin);
        return plugin;
    }
}
