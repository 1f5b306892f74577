using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Transport.WebSockets;

namespace Transport.Tests.Leaf;

/// <summary>
/// The handlers the transport creates for handshakes (ADR 0018): no platform HTTP span (Handshakes.H1,
/// proven over sockets in tests/Transport.IntegrationTests/Secrets), and for the ClientWebSocket leaf
/// without an app invoker, the socket options a handler must carry moved onto the transport's handler
/// (Handshakes.H2) so ConfigureSocket's proxy, certificate callback, credentials, client certificates
/// and cookies keep working.
/// </summary>
public sealed class HandshakeHandlerTests
{
    [Fact]
    public void The_transports_handler_has_no_activity_propagator_no_cookie_container_and_no_pooling()
    {
        using var handler = HandshakeHandlers.Create();

        Assert.Null(handler.ActivityHeadersPropagator);
        Assert.False(handler.UseCookies);
        Assert.Equal(TimeSpan.Zero, handler.PooledConnectionLifetime);
        Assert.True(handler.UseProxy);
    }

    [Fact]
    [Trait("Invariant", "Handshakes.H2")]
    public void H2_ClientWebSocket_options_are_carried_onto_the_transports_handler()
    {
        using var socket = new ClientWebSocket();
        var proxy = new WebProxy("http://proxy.example:3128");
        RemoteCertificateValidationCallback callback = (_, _, _, _) => true;
        var cookies = new CookieContainer();
        var credentials = new NetworkCredential("user", "pass");
        using var certificate = SelfSigned();
        socket.Options.Proxy = proxy;
        socket.Options.RemoteCertificateValidationCallback = callback;
        socket.Options.Cookies = cookies;
        socket.Options.Credentials = credentials;
        socket.Options.ClientCertificates.Add(certificate);

        using var handler = HandshakeHandlers.CarryOptions(socket.Options);

        Assert.NotNull(handler);
        Assert.Null(handler.ActivityHeadersPropagator);
        Assert.Same(proxy, handler.Proxy);
        Assert.True(handler.UseProxy);
        Assert.Same(callback, handler.SslOptions.RemoteCertificateValidationCallback);
        Assert.Same(cookies, handler.CookieContainer);
        Assert.True(handler.UseCookies);
        Assert.Same(credentials, handler.Credentials);
        Assert.Same(certificate, Assert.Single(handler.SslOptions.ClientCertificates!.Cast<X509Certificate>()));

        // Cleared on the socket: ClientWebSocket refuses them next to an invoker.
        Assert.Null(socket.Options.Proxy);
        Assert.Null(socket.Options.RemoteCertificateValidationCallback);
        Assert.Null(socket.Options.Cookies);
        Assert.Null(socket.Options.Credentials);
        Assert.Empty(socket.Options.ClientCertificates);
    }

    [Fact]
    public void Default_socket_options_share_a_handler_on_the_system_proxy_and_a_null_proxy_turns_it_off()
    {
        using var defaults = new ClientWebSocket();
        using var other = new ClientWebSocket();
        using var direct = new ClientWebSocket();
        direct.Options.Proxy = null;

        Assert.Null(HandshakeHandlers.CarryOptions(defaults.Options));
        var systemProxy = HandshakeHandlers.ForClientWebSocket(defaults.Options, out var disposeDefault);
        var noProxy = HandshakeHandlers.ForClientWebSocket(direct.Options, out var disposeDirect);

        Assert.False(disposeDefault);
        Assert.False(disposeDirect);
        Assert.NotNull(systemProxy);
        Assert.NotNull(noProxy);
        Assert.NotSame(systemProxy, noProxy);
        Assert.Same(systemProxy, HandshakeHandlers.ForClientWebSocket(other.Options, out _));
    }

    [Fact]
    public void UseDefaultCredentials_is_carried_as_the_default_credentials()
    {
        using var socket = new ClientWebSocket();
        socket.Options.UseDefaultCredentials = true;

        using var handler = HandshakeHandlers.CarryOptions(socket.Options);

        Assert.Same(CredentialCache.DefaultCredentials, handler!.Credentials);
        Assert.False(socket.Options.UseDefaultCredentials);
    }

    [Fact]
    public void An_HTTP2_upgrade_gets_no_handler_of_the_transport_so_the_platform_asks_for_the_apps_invoker()
    {
        using var socket = new ClientWebSocket();
        socket.Options.HttpVersion = HttpVersion.Version20;

        Assert.Null(HandshakeHandlers.ForClientWebSocket(socket.Options, out var dispose));
        Assert.False(dispose);
    }

    [Fact]
    public void A_handler_of_the_apps_gets_its_span_turned_off_unless_it_is_not_a_SocketsHttpHandler()
    {
        using var sockets = new SocketsHttpHandler();
        using var platform = new HttpClientHandler();

        Assert.True(HandshakeHandlers.TrySuppressSpan(sockets));
        Assert.Null(sockets.ActivityHeadersPropagator);
        Assert.False(HandshakeHandlers.TrySuppressSpan(platform));
        Assert.False(HandshakeHandlers.TrySuppressSpan(null));
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create();
        var request = new CertificateRequest("CN=client", key, HashAlgorithmName.SHA256);
        return request.CreateSelfSigned(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddYears(100));
    }
}
