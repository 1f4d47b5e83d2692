using InternVit.SK.Plugin;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;

namespace InternVit.SK.Hosting;

/// <summary>
/// One vision tool as the MCP server runs it: through the <see cref="GenerationGate"/> (<c>MaxConcurrentGenerations</c>
/// calls at once, <c>MaxQueuedRequests</c> waiting, the rest refused), and with refusals of the caller's own making (an
/// image outside the allowed roots, a bad argument, an unreadable image, a prompt too long, a busy server) answered as
/// a tool error with their message and logged as one line. The MCP SDK would hide such a message from the client and
/// log the exception's stack trace.
/// </summary>
internal sealed class McpToolCall(AIFunction inner, GenerationGate gate, ILogger logger) : DelegatingAIFunction(inner)
{
    protected override async ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken)
    {
        using var lease = await gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        if (lease is null) return Refuse("the server is busy: too many tool calls are running or waiting; retry shortly");
        try
        {
            return await base.InvokeCoreAsync(arguments, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ImageSourceException or ArgumentException or Imaging.ImageDecodeException or Generation.ContextWindowExceededException
            or InternVLBackendUnavailableException or InternVLBackendStreamException)
        {
            return Refuse(ErrorText.Of(e));
        }
    }

    private CallToolResult Refuse(string message)
    {
        logger.LogWarning("{Tool} refused: {Message}", Name, message);
        return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = message }] };
    }
}
