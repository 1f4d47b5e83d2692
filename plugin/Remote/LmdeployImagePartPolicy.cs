using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json.Nodes;

namespace InternVit.SK.Plugin;

/// <summary>
/// lmdeploy reads InternVL's tile limit from each image part (<c>"image_url": {"url": ..., "max_dynamic_patch": N}</c>),
/// not from vLLM's request-level <c>mm_processor_kwargs</c>: this pipeline step moves the one into the other before the
/// request leaves.
/// </summary>
internal sealed class LmdeployImagePartPolicy : PipelinePolicy
{
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Rewrite(message);
        ProcessNext(message, pipeline, currentIndex);
    }

    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Rewrite(message);
        await ProcessNextAsync(message, pipeline, currentIndex).ConfigureAwait(false);
    }

    internal static void Rewrite(PipelineMessage message)
    {
        if (message.Request.Content is not { } content) return;
        using var buffer = new MemoryStream();
        content.WriteTo(buffer);
        if (JsonNode.Parse(buffer.ToArray()) is not JsonObject body) return;
        if (Rewrite(body)) message.Request.Content = BinaryContent.Create(BinaryData.FromString(body.ToJsonString()));
    }

    /// <summary>Moves <c>mm_processor_kwargs.max_dynamic_patch</c> into every image part; false when there is none.</summary>
    internal static bool Rewrite(JsonObject body)
    {
        if (body["mm_processor_kwargs"] is not JsonObject kwargs || kwargs["max_dynamic_patch"] is not { } tiles) return false;
        kwargs.Remove("max_dynamic_patch");
        if (kwargs.Count == 0) body.Remove("mm_processor_kwargs");
        if (body["messages"] is JsonArray messages)
            foreach (var message in messages)
                if (message?["content"] is JsonArray parts)
                    foreach (var part in parts)
                        if (part?["image_url"] is JsonObject image) image["max_dynamic_patch"] = tiles.DeepClone();
        return true;
    }
}
