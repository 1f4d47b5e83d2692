using InternVit.SK.Plugin;
using Microsoft.Extensions.AI;

namespace InternVit.SK.Hosting;

/// <summary>
/// Replaces http(s) image URLs in request messages by the downloaded images, under the URL policy (allowlisted hosts,
/// size and time limits) of the plugin's image sources — the same code the tools use. Refusals become OpenAI-shaped errors.
/// </summary>
internal sealed class RemoteImageFetcher(ImageSources sources) : IDisposable
{
    public void Dispose() => sources.Dispose();

    public async Task FetchRemoteImagesAsync(List<ChatMessage> messages, CancellationToken cancellationToken)
    {
        foreach (var message in messages)
            for (int i = 0; i < message.Contents.Count; i++)
            {
                if (message.Contents[i] is not UriContent { Uri.Scheme: "http" or "https" } uri) continue;
                ReadOnlyMemory<byte> bytes;
                try
                {
                    bytes = await sources.ReadAsync(uri.Uri.AbsoluteUri, cancellationToken).ConfigureAwait(false);
                }
                catch (ImageSourceException e)
                {
                    throw e.Reason switch
                    {
                        ImageSourceRefusal.TooLarge => new OpenAiError(413, e.Message, param: "image_url", code: "image_too_large"),
                        ImageSourceRefusal.TimedOut => new OpenAiError(504, e.Message, "upstream_timeout", "image_url", "image_fetch_timeout"),
                        _ => OpenAiError.BadRequest(e.Message, "image_url"),
                    };
                }
                string mediaType;
                try
                {
                    mediaType = Imaging.ImageDecoder.MediaType(Imaging.ImageDecoder.DetectFormat(bytes.Span));
                }
                catch (Imaging.ImageDecodeException e)
                {
                    throw OpenAiError.BadRequest($"the image at {uri.Uri} cannot be used: {e.Message}", "image_url");
                }
                message.Contents[i] = new DataContent(bytes, mediaType) { AdditionalProperties = uri.AdditionalProperties }; // a per-image tile limit stays
            }
    }
}
