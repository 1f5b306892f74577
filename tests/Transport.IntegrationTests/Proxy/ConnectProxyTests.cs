using Transport.IntegrationTests.Tls;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Proxy;

/// <summary>
/// Through an HTTP CONNECT proxy (a small one the test starts, see <see cref="ConnectProxy"/>), for
/// every leaf and both ways of configuring it: ws:// and wss:// are tunnelled (the proxy counts the
/// tunnels and sees only host:port; TLS runs end to end through the tunnel, SNI included), each
/// reconnect opens a new tunnel, and a proxy that refuses the tunnel is a classified error.
/// </summary>
public sealed class ConnectProxyTests : IDisposable
{
    private static readonly TimeSpan Bound = TlsTests.Bound;
    private const string Secret = "SUPERSECRET-proxy-41aa";

    private readonly TestCertificates _ca = TestCertificates.CreateAuthority();

    public void Dispose() => _ca.Dispose();

    public static TheoryData<NetworkSetup> Setups => NetworkSetups.All;

    [Theory]
    [MemberData(nameof(Setups))]
    public async Task Ws_goes_through_one_CONNECT_tunnel_and_frames_flow(NetworkSetup setup)
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.EchoAsync();
        });
        await using var proxy = ConnectProxy.Start();
        var (leaf, invoker) = NetworkSetups.Leaf(setup, trust: null, proxy.Uri);
        using var _ = invoker;

        await using (var connection = await ConnectAsync(leaf, server.WebSocketUri))
        {
            await connection.Sender.SendAsync(Frame.Text("through the proxy"), CancellationToken.None).AsTask().WaitAsync(Bound);
            Assert.Equal("through the proxy", (await connection.Receiver.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Bound)).GetText());
        }

        Assert.Equal(1, proxy.TunnelCount);
        Assert.Equal([$"127.0.0.1:{server.WebSocketUri.Port}"], proxy.Targets);
        Assert.Empty(proxy.NonConnectRequests);
        Assert.Single(server.Handshakes);
        Assert.Empty(proxy.Errors);
    }

    [Theory]
    [MemberData(nameof(Setups))]
    public async Task Wss_is_tunnelled_with_tls_end_to_end_and_SNI_naming_the_venue_not_the_proxy(NetworkSetup setup)
    {
        using var certificate = _ca.IssueServer(["localhost"]);
        await using var server = await LoopbackServer.StartTlsAsync(async s =>
        {
            await s.AcceptAsync();
            await s.EchoAsync();
        }, certificate);
        await using var proxy = ConnectProxy.Start();
        var (leaf, invoker) = NetworkSetups.Leaf(setup, _ca.TrustOnlyThisAuthority(), proxy.Uri);
        using var _ = invoker;
        var uri = new Uri($"wss://localhost:{server.WebSocketUri.Port}/ws?token={Secret}");

        await using (var connection = await ConnectAsync(leaf, uri))
        {
            await connection.Sender.SendAsync(Frame.Text("tls in a tunnel"), CancellationToken.None).AsTask().WaitAsync(Bound);
            Assert.Equal("tls in a tunnel", (await connection.Receiver.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Bound)).GetText());
        }

        Assert.Equal(1, proxy.TunnelCount);
        Assert.Equal([$"localhost:{server.WebSocketUri.Port}"], proxy.Targets); // the proxy sees host:port, never the path or query
        Assert.Equal(["localhost"], server.ServerNames);
        Assert.Empty(proxy.Errors);
    }

    [Theory]
    [MemberData(nameof(Setups))]
    public async Task Stack_through_the_proxy_opens_a_new_tunnel_for_each_reconnect(NetworkSetup setup)
    {
        using var certificate = _ca.IssueServer(["localhost"]);
        await using var server = await LoopbackServer.StartTlsAsync(async s =>
        {
            await s.AcceptAsync();
            await s.SendAsync($"hello {s.Number}");
            await s.EchoAsync();
        }, certificate);
        await using var proxy = ConnectProxy.Start();
        var builder = TlsTests.StackBuilder(new Uri($"wss://localhost:{server.WebSocketUri.Port}/ws"));
        using var invoker = NetworkSetups.Configure(builder, setup, _ca.TrustOnlyThisAuthority(), proxy.Uri);
        await using var connection = await builder.Build().ConnectAsync();
        await using var frames = connection.Source.GetAsyncEnumerator();

        var first = TlsTests.SessionNumber(await TlsTests.NextTextAsync(frames));
        // Session.S9: the frame was read after its up-edge, so the cut ends an up session (next: Resumed).
        var seen = connection.Lifecycle.Current;
        Assert.True(seen.IsUp && seen.Epoch == 0, $"a frame was read, yet the lifecycle shows {seen}");
        (await server.WaitForConnectionAsync(first)).Abort();
        var second = TlsTests.SessionNumber(await TlsTests.NextTextAsync(frames));

        Assert.True(second > first);
        // Session.S9 again: the second session's frame came after its edge; waited for rather than read, as in TlsTests.
        var resumed = await connection.Lifecycle.WaitAsync(s => s.IsUp && s.Epoch >= 1).AsTask().WaitAsync(Bound);
        Assert.Equal(1, resumed.Epoch);
        Assert.Equal(ConnectionPhase.Resumed, resumed.Phase);
        // One tunnel per attempt: at least the two connections (more only if a loaded machine timed an attempt out).
        Assert.True(proxy.TunnelCount >= 2, $"{proxy.TunnelCount} tunnels");
        Assert.All(proxy.Targets, t => Assert.Equal($"localhost:{server.WebSocketUri.Port}", t));
        await connection.Control.ShutdownAsync().WaitAsync(Bound);
        Assert.Empty(proxy.Errors);
    }

    [Theory]
    [MemberData(nameof(RefusalCases))]
    public async Task Proxy_refusing_the_tunnel_is_a_Permanent_error_naming_the_proxy_status(NetworkSetup setup, int status, bool tls)
    {
        await using var proxy = ConnectProxy.StartRefusing(status);
        var (leaf, invoker) = NetworkSetups.Leaf(setup, _ca.TrustOnlyThisAuthority(), proxy.Uri);
        using var _ = invoker;
        var uri = new Uri($"{(tls ? "wss" : "ws")}://venue.example:9443/ws?token={Secret}");

        var error = await Assert.ThrowsAsync<TransportException>(() => ConnectAsync(leaf, uri));

        Assert.Equal(TransportErrorKind.Configuration, error.Kind);
        Assert.Equal(FailureClass.Permanent, DefaultFailureClassifier.Instance.Classify(error));
        Assert.Contains($"proxy refused the tunnel with HTTP {status}", error.Message, StringComparison.Ordinal);
        Assert.Null(error.HttpStatus); // the venue never answered; the status is the proxy's
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("venue.example", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(proxy.Uri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        Assert.Equal(1, proxy.RefusedCount);
        Assert.Equal(["venue.example:9443"], proxy.Targets);
    }

    [Theory]
    [MemberData(nameof(Setups))]
    public async Task Stack_behind_a_refusing_proxy_ends_Unrecoverable_after_the_permanent_retries(NetworkSetup setup)
    {
        await using var proxy = ConnectProxy.StartRefusing(407);
        var builder = TlsTests.StackBuilder(new Uri("wss://venue.example:9443/ws"), permanentRetries: 1);
        using var invoker = NetworkSetups.Configure(builder, setup, _ca.TrustOnlyThisAuthority(), proxy.Uri);
        await using var connection = await builder.Build().ConnectAsync();

        var final = await connection.Lifecycle.WaitAsync(s => s.IsTerminal).AsTask().WaitAsync(Bound);

        Assert.Equal(ConnectionPhase.Unrecoverable, final.Phase);
        Assert.Equal(TransportErrorKind.Configuration, final.LastError?.Kind);
        Assert.Equal(2, final.Attempts);
        Assert.Equal(2, proxy.RefusedCount);
    }

    [Fact]
    public async Task ClientWebSocket_proxy_set_on_its_options_next_to_an_invoker_is_a_Permanent_configuration_error()
    {
        await using var proxy = ConnectProxy.Start();
        using var invoker = new System.Net.Http.HttpMessageInvoker(NetworkSetups.Handler(trust: null, proxy: null));
        var leaf = new ClientWebSocketConnector(new ClientWebSocketConnectorOptions
        {
            HttpMessageInvoker = invoker,
            ConfigureSocket = s => s.Proxy = new System.Net.WebProxy(proxy.Uri), // belongs on the handler
        });

        var error = await Assert.ThrowsAsync<TransportException>(() => ConnectAsync(leaf, new Uri($"ws://127.0.0.1:{proxy.Uri.Port}/ws")));

        Assert.Equal(TransportErrorKind.Configuration, error.Kind);
        Assert.Equal(FailureClass.Permanent, DefaultFailureClassifier.Instance.Classify(error));
        Assert.Equal(0, proxy.TunnelCount);
    }

    public static TheoryData<NetworkSetup, int, bool> RefusalCases()
    {
        var data = new TheoryData<NetworkSetup, int, bool>();
        foreach (var setup in NetworkSetups.Kinds)
        {
            data.Add(setup, 407, true);
            data.Add(setup, 403, true);
            data.Add(setup, 407, false);
        }

        return data;
    }

    private static async Task<ILeafConnection> ConnectAsync(ILeafConnector leaf, Uri uri) =>
        await leaf.ConnectAsync(new HandshakeRequest(uri), CancellationToken.None).AsTask().WaitAsync(Bound);
}
