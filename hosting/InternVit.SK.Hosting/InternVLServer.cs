using InternVit.SK.Plugin;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Server;

namespace InternVit.SK.Hosting;

/// <summary>The two ready-made hosts: the OpenAI-compatible HTTP server (<c>internvl serve</c>) and the MCP server over stdio (<c>internvl mcp</c>).</summary>
public static class InternVLServer
{
    /// <summary>Loopback only unless the caller says otherwise.</summary>
    public const string DefaultUrls = "http://127.0.0.1:8000";

    /// <summary>
    /// The HTTP server: Kestrel on <paramref name="urls"/> with the request-size limit, the API key check, the
    /// OpenAI-compatible API and the chat page, and the idle trim of the GC's empty memory (see <c>IdleMemoryTrim</c>).
    /// Start it with <c>RunAsync</c> / <c>StartAsync</c>.
    /// </summary>
    public static WebApplication BuildHttpServer(Action<InternVLOptions> configure, string urls = DefaultUrls, Action<ILoggingBuilder>? logging = null)
    {
        var probe = new InternVLOptions();
        configure(probe);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(urls);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = probe.MaxRequestBytes);
        logging?.Invoke(builder.Logging);
        builder.Services.AddInternVL(configure);
        builder.Services.AddHostedService<IdleMemoryTrim>();
        var app = builder.Build();
        app.UseInternVL();
        app.MapInternVL();
        return app;
    }

    /// <summary>
    /// The Model Context Protocol server over stdio exposing the vision tools (describe_image, ask_image, extract_text,
    /// answer_document_question, locate). Logs go to standard error; standard output carries the protocol.
    /// </summary>
    public static IHost BuildMcpServer(Action<InternVLOptions> configure, Action<ILoggingBuilder>? logging = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
        logging?.Invoke(builder.Logging);
        builder.Services.AddInternVL(configure);
        builder.Services.AddHostedService<IdleMemoryTrim>();
        builder.Services.AddMcpServer(server => server.ServerInfo = new ModelContextProtocol.Protocol.Implementation
        {
            Name = "internvit-sk",
            Version = typeof(InternVLServer).Assembly.GetName().Version?.ToString() ?? "0",
        }).WithStdioServerTransport();
        builder.Services.AddSingleton<IConfigureOptions<McpServerOptions>>(services => new ConfigureOptions<McpServerOptions>(options =>
        {
            options.ToolCollection ??= [];
            var gate = services.GetRequiredService<GenerationGate>();
            var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("InternVit.SK.Hosting.Mcp");
            foreach (var function in services.GetRequiredService<VisionTools>().AsAIFunctions())
                options.ToolCollection.Add(McpServerTool.Create(new McpToolCall(function, gate, logger)));
        }));
        return builder.Build();
    }
}
