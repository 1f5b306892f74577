using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Transport.Testing;
using Transport.WebSockets;
using static Transport.IntegrationTests.Leaf.LeafTestKit;

namespace Transport.IntegrationTests.Leaf;

/// <summary>The leaf's handshake: what reaches the server, and how refusals map into the taxonomy.</summary>
public sealed class LeafHandshakeTests
{
    private const string Secret = "SUPERSECRET-7f3a";

    [Fact]
    public async Task Headers_cookies_subprotocols_and_query_reach_the_server_and_the_selected_subprotocol_is_reported()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync(subProtocol: "feed.v2");
            await s.EchoAsync();
        });
        var handshake = Handshake(server);
        handshake.Headers["X-Client"] = "leaf-test";
        handshake.Headers["X-Api-Key"] = Secret;
        handshake.Cookies["session"] = "abc123";
        handshake.Cookies["region"] = "eu";
        handshake.SubProtocols.Add("feed.v1");
        handshake.SubProtocols.Add("feed.v2");
        handshake.Query["token"] = Secret;
        handshake.Query["resume_from"] = "42";

        await using var connection = await ConnectAsync(server, handshake: handshake);

        var seen = Assert.Single(server.Handshakes);
        Assert.Equal("/ws", seen.Path);
        Assert.Contains($"token={Secret}", seen.QueryString, StringComparison.Ordinal);
        Assert.Contains("resume_from=42", seen.QueryString, StringComparison.Ordinal);
        Assert.Equal("leaf-test", seen.Headers["X-Client"]);
        Assert.Equal(Secret, seen.Headers["X-Api-Key"]);
        Assert.Equal("abc123", seen.Cookies["session"]);
        Assert.Equal("eu", seen.Cookies["region"]);
        Assert.Equal(["feed.v1", "feed.v2"], seen.RequestedSubProtocols);
        Assert.Equal("feed.v2", connection.SubProtocol);
    }

    [Theory]
    [InlineData(401)]
    [InlineData(403)]
    public async Task Handshake_rejected_with_401_or_403_is_Auth_with_the_status(int status)
    {
        await using var server = await LoopbackServer.StartAsync(s => s.RejectAsync(status));

        var error = await Assert.ThrowsAsync<TransportException>(() => ConnectAsync(server));

        Assert.Equal(TransportErrorKind.Auth, error.Kind);
        Assert.Equal(status, error.HttpStatus);
    }

    [Fact]
    public async Task Handshake_rejected_with_503_is_Connection_with_the_status()
    {
        await using var server = await LoopbackServer.StartAsync(s => s.RejectAsync(503));

        var error = await Assert.ThrowsAsync<TransportException>(() => ConnectAsync(server));

        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.Equal(503, error.HttpStatus);
    }

    [Fact]
    public async Task Refused_connection_is_Connection_without_a_status()
    {
        // A port that was just free: bind, read it, release it.
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var connector = new ClientWebSocketConnector();

        var error = await Assert.ThrowsAsync<TransportException>(() =>
            connector.ConnectAsync(new HandshakeRequest(new Uri($"ws://127.0.0.1:{port}/ws")), CancellationToken.None).AsTask().WaitAsync(Bound));

        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.Null(error.HttpStatus);
    }

    [Fact]
    public async Task Stalled_handshake_is_cancelled_by_the_callers_token()
    {
        await using var server = await LoopbackServer.StartAsync(s => s.StallHandshake());
        var connector = new ClientWebSocketConnector();
        using var cts = new CancellationTokenSource();
        var connect = connector.ConnectAsync(Handshake(server), cts.Token).AsTask();
        await server.WaitForConnectionAsync(1).WaitAsync(Bound);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connect.WaitAsync(Bound));
    }

    [Fact]
    public async Task Connect_through_an_HttpMessageInvoker_works()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.EchoAsync();
        });
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
        var handshake = Handshake(server);
        handshake.Cookies["session"] = "via-invoker";

        await using var connection = await ConnectAsync(server, new ClientWebSocketConnectorOptions { HttpMessageInvoker = invoker }, handshake);
        await connection.Sender.SendAsync(Frame.Text("hello"), CancellationToken.None);
        var echoed = await connection.ReceiveAsync();

        Assert.Equal("hello", echoed.GetText());
        Assert.Equal("via-invoker", Assert.Single(server.Handshakes).Cookies["session"]);
    }

    [Fact]
    public async Task Permessage_deflate_is_negotiated_when_enabled()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync(enableCompression: true);
            await s.EchoAsync();
        });
        var options = new ClientWebSocketConnectorOptions { DeflateOptions = new WebSocketDeflateOptions() };
        var message = new string('a', 256 * 1024);

        await using var connection = await ConnectAsync(server, options);
        await connection.Sender.SendAsync(Frame.Text(message), CancellationToken.None);
        var echoed = await connection.ReceiveAsync();

        Assert.Contains("permessage-deflate", Assert.Single(server.Handshakes).Headers["Sec-WebSocket-Extensions"], StringComparison.Ordinal);
        Assert.Contains("permessage-deflate", ((ClientWebSocketConnection)connection).Extensions, StringComparison.Ordinal);
        Assert.Equal(message, echoed.GetText());
    }

    [Fact]
    public async Task Without_deflate_options_no_compression_is_offered()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync(enableCompression: true);
            await s.EchoAsync();
        });

        await using var connection = await ConnectAsync(server);

        Assert.False(Assert.Single(server.Handshakes).Headers.ContainsKey("Sec-WebSocket-Extensions"));
        Assert.Null(((ClientWebSocketConnection)connection).Extensions);
    }

    [Fact]
    public async Task Errors_never_contain_a_token_passed_in_the_query()
    {
        await using var rejecting = await LoopbackServer.StartAsync(s => s.RejectAsync(503));
        var handshake = Handshake(rejecting);
        handshake.Query["token"] = Secret;
        handshake.Query["listenKey"] = Secret;
        var connector = new ClientWebSocketConnector();

        var rejected = await Assert.ThrowsAsync<TransportException>(() => connector.ConnectAsync(handshake, CancellationToken.None).AsTask().WaitAsync(Bound));

        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var refusedHandshake = new HandshakeRequest(new Uri($"ws://127.0.0.1:{port}/ws?token={Secret}"));
        var refused = await Assert.ThrowsAsync<TransportException>(() => connector.ConnectAsync(refusedHandshake, CancellationToken.None).AsTask().WaitAsync(Bound));

        foreach (var error in new[] { rejected, refused })
        {
            Assert.DoesNotContain(Secret, error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        }

        // The handshake itself describes the attempt without the secret.
        Assert.DoesNotContain(Secret, handshake.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(ClientWebSocketConnectorOptions.MaxMessageBytes))]
    [InlineData(nameof(ClientWebSocketConnectorOptions.ReceiveBufferBytes))]
    [InlineData(nameof(ClientWebSocketConnectorOptions.KeepAliveInterval))]
    [InlineData(nameof(ClientWebSocketConnectorOptions.KeepAliveTimeout))]
    public void Out_of_range_options_fail_naming_the_property(string property)
    {
        var options = new ClientWebSocketConnectorOptions();
        switch (property)
        {
            case nameof(ClientWebSocketConnectorOptions.MaxMessageBytes): options.MaxMessageBytes = 0; break;
            case nameof(ClientWebSocketConnectorOptions.ReceiveBufferBytes): options.ReceiveBufferBytes = -1; break;
            case nameof(ClientWebSocketConnectorOptions.KeepAliveInterval): options.KeepAliveInterval = TimeSpan.FromSeconds(-5); break;
            default: options.KeepAliveTimeout = TimeSpan.Zero; break;
        }

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new ClientWebSocketConnector(options));

        Assert.Equal(property, error.ParamName);
    }
}
