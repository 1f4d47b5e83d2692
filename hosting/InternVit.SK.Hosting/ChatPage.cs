namespace InternVit.SK.Hosting;

/// <summary>The dependency-free chat page served at <c>/</c> (wwwroot/index.html, embedded in the assembly).</summary>
internal static class ChatPage
{
    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(ChatPage).Assembly.GetManifestResourceStream("InternVit.SK.Hosting.index.html")
            ?? throw new InvalidOperationException("the chat page is missing from the assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public static string Html => Page.Value;
}
