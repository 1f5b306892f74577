using System.Net.WebSockets;
using VenueSimulator;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Simulator;

/// <summary>The login op (for session-initializer examples) and listen-key paths.</summary>
public sealed class LoginTests
{
    [Fact]
    public async Task An_order_is_refused_before_the_login_and_accepted_after_it()
    {
        await using var host = await StartAsync();
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        await client.SendAsync("""{"op":"order","id":1}""");
        var refused = (await client.ReceiveAsync()).Json;
        await client.SendAsync("""{"op":"login","id":2}""");
        var login = (await client.ReceiveAsync()).Json;
        await client.SendAsync("""{"op":"order","id":3}""");
        var accepted = (await client.ReceiveAsync()).Json;

        Assert.Equal("login_required", refused.GetProperty("code").GetString());
        Assert.Equal(("login", "ok", 2), (login.GetProperty("type").GetString(), login.GetProperty("login").GetString(), login.GetProperty("id").GetInt64()));
        Assert.StartsWith("s-", login.GetProperty("session").GetString(), StringComparison.Ordinal);
        Assert.Equal(("order", "accepted", 3), (accepted.GetProperty("type").GetString(), accepted.GetProperty("status").GetString(), accepted.GetProperty("id").GetInt64()));
        Assert.Equal((1, 1, 1), (host.Stats.Logins, host.Stats.OrdersAccepted, host.Stats.OrdersRefused));
    }

    [Fact]
    public async Task With_RequireLogin_a_subscribe_needs_the_login_first()
    {
        await using var host = await StartAsync(o => o.RequireLogin = true);
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        await client.SubscribeAsync(1, Btc);
        var refused = (await client.ReceiveAsync()).Json;
        await client.SendAsync("""{"op":"login","id":2}""");
        await client.ReceiveAsync();
        await client.SubscribeAsync(3, Btc);

        Assert.Equal("login_required", refused.GetProperty("code").GetString());
        Assert.Equal("subscribed", (await client.ReceiveAsync()).MessageType);
    }

    [Theory]
    [InlineData("/ws/a-listen-key", true)]
    [InlineData("/ws/", false)]
    [InlineData("/ws/a/b", false)]
    [InlineData("/other", false)]
    public async Task A_listen_key_path_under_ws_is_served_and_other_paths_are_404(string path, bool served)
    {
        await using var host = await StartAsync();
        var uri = new UriBuilder(host.WebSocketUri) { Path = path }.Uri;

        if (served)
        {
            await using var client = await SimClient.ConnectAsync(uri);
            Assert.Equal(WebSocketState.Open, client.Socket.State);
        }
        else
        {
            using var socket = new ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            using var bound = new CancellationTokenSource(SimClient.Bound);
            await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(uri, bound.Token));
            Assert.Equal(System.Net.HttpStatusCode.NotFound, socket.HttpStatusCode);
        }
    }
}
