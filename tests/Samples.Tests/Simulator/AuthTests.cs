using System.Net;
using System.Net.WebSockets;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Simulator;

public sealed class AuthTests
{
    private const string Token = "t0ken-abc";
    private const string Cookie = "c00kie-xyz";

    private static Uri WithToken(Uri uri, string token) => new($"{uri}?token={Uri.EscapeDataString(token)}");

    private static async Task AssertRejectedAsync(Uri uri, Action<ClientWebSocketOptions>? configure = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        using var cts = new CancellationTokenSource(SimClient.Bound);
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(uri, cts.Token));
        Assert.Equal(HttpStatusCode.Unauthorized, socket.HttpStatusCode);
        socket.Dispose();
    }

    private static async Task AssertAcceptedAsync(Uri uri, Action<ClientWebSocketOptions>? configure = null)
    {
        await using var client = await SimClient.ConnectAsync(uri, configure);
        Assert.Equal(HttpStatusCode.SwitchingProtocols, client.Socket.HttpStatusCode);
        await client.SendAsync("""{"op":"ping","id":1}""");
        Assert.Equal("pong", (await client.ReceiveAsync()).MessageType);
    }

    [Fact]
    public async Task Token_in_query_or_bearer_header_is_accepted_and_wrong_or_missing_is_401()
    {
        await using var host = await StartAsync(o => o.ExpectedToken = Token);

        await AssertAcceptedAsync(WithToken(host.WebSocketUri, Token));
        await AssertAcceptedAsync(host.WebSocketUri, o => o.SetRequestHeader("Authorization", "Bearer " + Token));
        await AssertRejectedAsync(WithToken(host.WebSocketUri, "wrong"));
        await AssertRejectedAsync(host.WebSocketUri, o => o.SetRequestHeader("Authorization", "Bearer wrong"));
        await AssertRejectedAsync(host.WebSocketUri);

        Assert.Equal(3, host.Stats.HandshakesRejected);
        Assert.Equal(2, host.Stats.ConnectionsAccepted);
    }

    [Fact]
    public async Task Session_cookie_is_accepted_and_wrong_cookie_is_401()
    {
        await using var host = await StartAsync(o => o.ExpectedSessionCookie = Cookie);

        await AssertAcceptedAsync(host.WebSocketUri, o =>
        {
            o.Cookies = new CookieContainer();
            o.Cookies.Add(new Cookie("session", Cookie, "/", "127.0.0.1"));
        });
        await AssertRejectedAsync(host.WebSocketUri, o => o.SetRequestHeader("Cookie", "session=wrong"));
        await AssertRejectedAsync(host.WebSocketUri);

        Assert.Equal(2, host.Stats.HandshakesRejected);
    }

    [Fact]
    public async Task RotateToken_rejects_the_old_token_accepts_the_new_and_keeps_open_sockets()
    {
        await using var host = await StartAsync(o => o.ExpectedToken = Token);
        await using var existing = await SimClient.ConnectAsync(WithToken(host.WebSocketUri, Token));

        host.RotateToken("fresh");

        await AssertRejectedAsync(WithToken(host.WebSocketUri, Token));
        await AssertAcceptedAsync(WithToken(host.WebSocketUri, "fresh"));
        await existing.SendAsync("""{"op":"ping","id":9}""");
        Assert.Equal("pong", (await existing.ReceiveAsync()).MessageType);
    }
}
