using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace InternVit.SK.Hosting;

/// <summary>
/// Against DNS rebinding (a web page whose own name, e.g. evil.example, is made to resolve to this server, so the browser
/// lets it read the answers): a request is answered only when its <c>Host</c> names this server, i.e. an IP address,
/// <c>localhost</c>, a host name of the URLs it listens on, or one of <see cref="InternVLOptions.AllowedHosts"/>. A
/// browser's request that changes something (POST ...) must also come from this server's own origin (its <c>Origin</c>
/// header, when present, names the same host and port) or from an allowed host.
/// </summary>
internal static class HostCheck
{
    public static OpenAiError? Check(HttpContext context, InternVLOptions o)
    {
        string host = context.Request.Host.Host;
        if (!IsAllowed(host, context, o))
            return new OpenAiError(400, $"the Host header '{context.Request.Host}' does not name this server; add the name with --allow-host (AllowedHosts)", code: "invalid_host");
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method)) return null;
        string? origin = context.Request.Headers.Origin;
        if (origin is null) return null; // not a browser
        if (Uri.TryCreate(origin, UriKind.Absolute, out var uri) &&
            (uri.Authority.Equals(context.Request.Host.Value, StringComparison.OrdinalIgnoreCase) || IsListed(uri.Host, o)))
            return null;
        return new OpenAiError(403, $"requests from the web page at '{origin}' are not accepted; only this server's own page may send them", code: "forbidden_origin");
    }

    private static bool IsAllowed(string host, HttpContext context, InternVLOptions o)
    {
        if (host.Length == 0) return false;
        // An address names no one else: a page can only be at an address by being served from it.
        if (IPAddress.TryParse(host.Trim('[', ']'), out _)) return true;
        // Browsers resolve localhost and *.localhost to loopback themselves (RFC 6761), so no page can rebind them.
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)) return true;
        if (IsListed(host, o)) return true;
        var addresses = context.RequestServices.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        foreach (string address in addresses)
            if (Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Host.Equals(host, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>Exact names (case-insensitive), <c>*.example.com</c> for its sub-domains, or <c>*</c> for any.</summary>
    private static bool IsListed(string host, InternVLOptions o)
    {
        foreach (string allowed in o.AllowedHosts)
        {
            if (allowed == "*") return true;
            if (allowed.StartsWith("*.", StringComparison.Ordinal) ? host.EndsWith(allowed[1..], StringComparison.OrdinalIgnoreCase) && host.Length > allowed.Length - 1
                : host.Equals(allowed, StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }
}
