namespace InternVit.SK.Hosting;

/// <summary>
/// The message of an exception as a user should read it: without the "(Parameter 'x')" and "Actual value was ..."
/// that .NET appends to argument exceptions. The one place that cleans messages for the HTTP API, MCP and the CLI.
/// </summary>
internal static class ErrorText
{
    public static string Of(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: { } name })
        {
            int suffix = message.IndexOf($" (Parameter '{name}')", StringComparison.Ordinal);
            if (suffix >= 0) message = message[..suffix];
        }
        return message;
    }
}
