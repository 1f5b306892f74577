using System.Net;
using System.Net.Http;
using System.Net.Security;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Tls;

/// <summary>
/// How a user gives each leaf its TLS trust and its proxy, the three ways the README shows:
/// the ClientWebSocket leaf through its own socket options, the ClientWebSocket leaf through an
/// HTTP handler (an <see cref="HttpMessageInvoker"/>, as IHttpClientFactory hands out), and the
/// Pipelines leaf through an HTTP handler.
/// </summary>
public enum NetworkSetup
{
    /// <summary>ClientWebSocketOptions.RemoteCertificateValidationCallback and .Proxy (via ConfigureSocket).</summary>
    ClientWebSocketOptions,

    /// <summary>The ClientWebSocket leaf over a SocketsHttpHandler carrying SslOptions and Proxy.</summary>
    ClientWebSocketHandler,

    /// <summary>The Pipelines leaf over a SocketsHttpHandler carrying SslOptions and Proxy.</summary>
    PipelinesHandler,
}

/// <summary>
/// Builds a leaf, or configures the whole stack's leaf, for a <see cref="NetworkSetup"/>: every leaf of
/// the shared list (<see cref="LeafKinds"/>) through its handler, plus the ClientWebSocket leaf through its
/// own socket options. A leaf added to <see cref="LeafKinds"/> without a setup here fails every test loudly.
/// </summary>
internal static class NetworkSetups
{
    public static readonly NetworkSetup[] Kinds = [.. LeafKinds.Values.Select(HandlerSetup), NetworkSetup.ClientWebSocketOptions];

    public static NetworkSetup HandlerSetup(LeafKind leaf) => leaf switch
    {
        LeafKind.ClientWebSocket => NetworkSetup.ClientWebSocketHandler,
        LeafKind.Pipelines => NetworkSetup.PipelinesHandler,
        _ => throw new NotSupportedException($"No TLS/proxy set-up for the leaf {leaf}: add one to NetworkSetup."),
    };

    public static LeafKind LeafOf(NetworkSetup setup) => setup == NetworkSetup.PipelinesHandler ? LeafKind.Pipelines : LeafKind.ClientWebSocket;

    public static TheoryData<NetworkSetup> All => new(Kinds);

    /// <summary>
    /// A handler with the given trust and proxy. <paramref name="proxy"/> null: no proxy at all (not
    /// the system's, so an environment proxy variable cannot reroute loopback traffic).
    /// </summary>
    public static SocketsHttpHandler Handler(RemoteCertificateValidationCallback? trust, Uri? proxy)
    {
        var handler = new SocketsHttpHandler
        {
            // An upgraded connection leaves the pool, so no pooling settings matter; no cookies.
            UseCookies = false,
            UseProxy = proxy is not null,
            Proxy = proxy is null ? null : new WebProxy(proxy),
        };
        if (trust is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = trust;
        }

        return handler;
    }

    /// <summary>A leaf for <paramref name="setup"/>; dispose the returned invoker (if any) after the test.</summary>
    public static (ILeafConnector Leaf, IDisposable? Invoker) Leaf(NetworkSetup setup, RemoteCertificateValidationCallback? trust, Uri? proxy)
    {
        switch (setup)
        {
            case NetworkSetup.ClientWebSocketOptions:
                return (new ClientWebSocketConnector(new ClientWebSocketConnectorOptions { ConfigureSocket = s => ConfigureSocket(s, trust, proxy) }), null);
            default:
            {
                var invoker = new HttpMessageInvoker(Handler(trust, proxy));
                return (LeafKinds.CreateConnector(LeafOf(setup), invoker: invoker), invoker);
            }
        }
    }

    /// <summary>Configures the stack's own leaf for <paramref name="setup"/> (what a user writes on the builder).</summary>
    public static IDisposable? Configure(WebSocketTransportBuilder builder, NetworkSetup setup, RemoteCertificateValidationCallback? trust, Uri? proxy)
    {
        switch (setup)
        {
            case NetworkSetup.ClientWebSocketOptions:
                builder.ConfigureClientWebSocket(o => o.ConfigureSocket = s => ConfigureSocket(s, trust, proxy));
                return null;
            default:
            {
                var invoker = new HttpMessageInvoker(Handler(trust, proxy));
                builder.UseLeafKind(LeafOf(setup), invoker);
                return invoker;
            }
        }
    }

    private static void ConfigureSocket(System.Net.WebSockets.ClientWebSocketOptions socket, RemoteCertificateValidationCallback? trust, Uri? proxy)
    {
        if (trust is not null)
        {
            socket.RemoteCertificateValidationCallback = trust;
        }

        // Null Proxy: a direct connection (not the system proxy).
        socket.Proxy = proxy is null ? null : new WebProxy(proxy);
    }
}
