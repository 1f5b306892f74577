using System.Net;
using System.Net.Http;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;

namespace Transport.WebSockets;

/// <summary>
/// The HTTP handlers the transport itself creates for handshakes, made so the platform records no
/// request for them (ADR 0018).
/// </summary>
/// <remarks>
/// <para>
/// Handshakes.H1 a handler the transport creates has <see cref="SocketsHttpHandler.ActivityHeadersPropagator"/>
/// null: SocketsHttpHandler then builds no DiagnosticsHandler, so the handshake makes no
/// <c>System.Net.Http.HttpRequestOut</c> activity (whose <c>url.full</c> keeps the path: a listen key)
/// and no <c>HttpHandlerDiagnosticListener</c> event (whose payload is the request, headers included)
/// (H1_the_transports_own_handlers_make_no_platform_HTTP_span).
/// The handshake sends no <c>traceparent</c> header as a consequence; the transport's own
/// <c>transport.down_cycle</c> span covers the connect.
/// </para>
/// <para>
/// Handshakes.H2 the ClientWebSocket leaf with no invoker of the app's gets one from here, mirroring
/// what <see cref="ClientWebSocket"/> would build from its options (proxy, credentials, certificate
/// callback, client certificates, cookies), so those settings keep working
/// (H2_ClientWebSocket_options_are_carried_onto_the_transports_handler).
/// </para>
/// </remarks>
internal static class HandshakeHandlers
{
    // ClientWebSocket's sentinel for "the system proxy" (internal to the platform): what a fresh
    // options object holds until someone sets Proxy.
    private static readonly IWebProxy? SystemProxySentinel = CreateSentinel();

    private static readonly Lazy<HttpMessageInvoker> SharedSystemProxy = new(() => new HttpMessageInvoker(Create(useProxy: true), disposeHandler: true));
    private static readonly Lazy<HttpMessageInvoker> SharedNoProxy = new(() => new HttpMessageInvoker(Create(useProxy: false), disposeHandler: true));

    /// <summary>A handler for handshakes: no platform span (H1), no cookie container, no pooling (an upgraded connection leaves the pool anyway).</summary>
    /// <param name="useProxy">Use the system proxy (the platform default).</param>
    public static SocketsHttpHandler Create(bool useProxy = true) => new()
    {
        PooledConnectionLifetime = TimeSpan.Zero,
        UseCookies = false,
        UseProxy = useProxy,
        ActivityHeadersPropagator = null,
    };

    /// <summary>The shared invoker behind the Pipelines leaf when the app gave none (system proxy).</summary>
    public static HttpMessageInvoker Shared => SharedSystemProxy.Value;

    /// <summary>
    /// Turns the platform span off on a handler built elsewhere (the app's primary handler of the
    /// transport's HttpClient). False when it cannot: not a <see cref="SocketsHttpHandler"/>, or one
    /// that already sent a request (its settings are frozen).
    /// </summary>
    /// <param name="handler">The primary handler.</param>
    public static bool TrySuppressSpan(HttpMessageHandler? handler)
    {
        if (handler is not SocketsHttpHandler sockets)
        {
            return false;
        }

        if (sockets.ActivityHeadersPropagator is null)
        {
            return true;
        }

        try
        {
            sockets.ActivityHeadersPropagator = null;
            return true;
        }
        catch (InvalidOperationException)
        {
            return false; // already started: shared with another client, left as it is
        }
    }

    /// <summary>
    /// The invoker for a ClientWebSocket handshake when the app gave none (H2): a shared one when the
    /// options ask for nothing a handler must carry, else a new handler carrying them (the caller
    /// disposes it after the connect; the upgraded stream does not depend on it). The settings moved
    /// onto the handler are cleared on <paramref name="options"/>, since ClientWebSocket refuses them
    /// next to an invoker. Null when the options ask for HTTP/2 (the platform requires the app's own
    /// invoker for that, and says so).
    /// </summary>
    /// <param name="options">The socket's options, after ConfigureSocket ran.</param>
    /// <param name="dispose">True when the returned invoker is the caller's to dispose.</param>
    public static HttpMessageInvoker? ForClientWebSocket(ClientWebSocketOptions options, out bool dispose)
    {
        dispose = false;
        if (options.HttpVersion.Major >= 2 || options.HttpVersionPolicy == HttpVersionPolicy.RequestVersionOrHigher)
        {
            return null;
        }

        if (CarryOptions(options) is { } handler)
        {
            dispose = true;
            return new HttpMessageInvoker(handler, disposeHandler: true);
        }

        return options.Proxy is null ? SharedNoProxy.Value : SharedSystemProxy.Value;
    }

    /// <summary>
    /// A new handler carrying the settings of <paramref name="options"/> that only a handler can carry
    /// (then cleared on the options), or null when there are none (a shared handler serves).
    /// </summary>
    /// <param name="options">The socket's options.</param>
    internal static SocketsHttpHandler? CarryOptions(ClientWebSocketOptions options)
    {
        var systemProxy = options.Proxy is not null && ReferenceEquals(options.Proxy, SystemProxySentinel);
        if (!options.UseDefaultCredentials && options.Credentials is null && options.ClientCertificates.Count == 0
            && options.RemoteCertificateValidationCallback is null && options.Cookies is null
            && (options.Proxy is null || systemProxy))
        {
            return null;
        }

        var handler = Create(useProxy: options.Proxy is not null);
        if (options.Proxy is not null && !systemProxy)
        {
            handler.Proxy = options.Proxy;
        }

        if (options.Cookies is { } cookies)
        {
            handler.CookieContainer = cookies;
            handler.UseCookies = true;
        }

        handler.SslOptions.RemoteCertificateValidationCallback = options.RemoteCertificateValidationCallback;
        handler.Credentials = options.UseDefaultCredentials ? CredentialCache.DefaultCredentials : options.Credentials;
        if (options.ClientCertificates.Count > 0)
        {
            handler.SslOptions.ClientCertificates = new X509CertificateCollection(options.ClientCertificates);
        }

        options.Proxy = null;
        options.Cookies = null;
        options.Credentials = null;
        options.UseDefaultCredentials = false;
        options.RemoteCertificateValidationCallback = null;
        options.ClientCertificates.Clear();
        return handler;
    }

    private static IWebProxy? CreateSentinel()
    {
        using var probe = new ClientWebSocket();
        return probe.Options.Proxy;
    }
}
