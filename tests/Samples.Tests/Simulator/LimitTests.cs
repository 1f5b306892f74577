using System.Net.WebSockets;
using VenueSimulator;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Simulator;

public sealed class LimitTests
{
    [Fact]
    public async Task Exceeding_the_inbound_rate_closes_with_1008_rate_limit()
    {
        await using var host = await StartAsync(o => o.InboundMessagesPerSecond = 3);
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        for (var i = 0; i < 10; i++) await client.SendAsync($$"""{"op":"ping","id":{{i}}}""");
        var pongs = 0;
        var close = await client.ReceiveUntilAsync(m => m.IsClose, m => pongs += m.IsClose ? 0 : 1);

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, close.CloseStatus);
        Assert.Equal("rate limit", close.CloseDescription);
        Assert.InRange(pongs, 3, 9); // the first 3 are within the limit; the 10th never is answered
        await host.WaitForStatsAsync(s => s.Disconnects(DisconnectReason.RateLimited) == 1);
    }

    [Fact]
    public async Task Maximum_lifetime_closes_with_1001()
    {
        await using var host = await StartAsync(o => o.MaxConnectionLifetime = TimeSpan.FromMilliseconds(200));
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);
        await client.SubscribeAsync(1, Btc);

        var close = await client.ReceiveCloseAsync();

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, close.CloseStatus);
        await client.DisposeAsync(); // answer the close: the server records a clean lifetime close
        await host.WaitForStatsAsync(s => s.Disconnects(DisconnectReason.LifetimeExpired) == 1 && s.ActiveConnections == 0);
    }

    [Fact]
    public async Task Oversized_inbound_message_closes_with_1009()
    {
        await using var host = await StartAsync(o => o.MaxInboundMessageBytes = 100);
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        await client.SendAsync($$"""{"op":"ping","pad":"{{new string('x', 200)}}"}""");
        var close = await client.ReceiveCloseAsync();

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, close.CloseStatus);
        await host.WaitForStatsAsync(s => s.Disconnects(DisconnectReason.MessageTooBig) == 1);
    }

    [Fact]
    public async Task Unanswered_server_pings_abort_the_connection()
    {
        await using var host = await StartAsync(o =>
        {
            o.ServerPingInterval = TimeSpan.FromMilliseconds(50);
            o.ServerPingTimeout = TimeSpan.FromMilliseconds(100);
        });
        // A client that never reads never answers the server's pings.
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri, o => o.KeepAliveInterval = TimeSpan.Zero);

        await host.WaitForStatsAsync(s => s.ActiveConnections == 0 && s.ConnectionsAccepted == 1);
        Assert.Equal(1, host.Stats.Disconnects(DisconnectReason.KeepAliveTimeout));
        Assert.Equal(0, host.Stats.ActiveConnections);
    }

    [Fact]
    public async Task Answered_server_pings_keep_a_reading_client_connected()
    {
        await using var host = await StartAsync(o =>
        {
            o.ServerPingInterval = TimeSpan.FromMilliseconds(20);
            // Generous against a loaded CI box: a pong late by a scheduler hiccup must not count.
            o.ServerPingTimeout = TimeSpan.FromSeconds(1);
        });
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);
        await client.SubscribeAsync(1, Btc);

        // 400 ticks at 5 ms (2 s or more) span about 100 ping rounds and two timeouts; the reading
        // client answers each ping, so none of them runs out.
        await client.ReceiveUntilAsync(m => m.MessageType == "tick" && m.Json.GetProperty("seq").GetInt64() >= 400);

        Assert.Equal(WebSocketState.Open, client.Socket.State);
        Assert.Equal(0, host.Stats.Disconnects(DisconnectReason.KeepAliveTimeout));
    }

    [Fact]
    public async Task Client_abort_is_counted_as_client_aborted_not_as_keep_alive_timeout()
    {
        await using var host = await StartAsync(o =>
        {
            o.ServerPingInterval = TimeSpan.FromSeconds(30);
            o.ServerPingTimeout = TimeSpan.FromSeconds(30);
        });
        var client = await SimClient.ConnectAsync(host.WebSocketUri);
        await client.SendAsync("""{"op":"ping","id":1}""");
        Assert.Equal("pong", (await client.ReceiveAsync()).MessageType);

        client.Socket.Abort();

        await host.WaitForStatsAsync(s => s.ActiveConnections == 0 && s.ConnectionsAccepted == 1);
        Assert.Equal(1, host.Stats.Disconnects(DisconnectReason.ClientAborted));
        await client.DisposeAsync();
    }
}
