using System.Net.WebSockets;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Simulator;

public sealed class SubscriptionTests
{
    [Fact]
    public async Task Subscribe_yields_per_topic_seq_from_one()
    {
        await using var host = await StartAsync();
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        await client.SubscribeAsync(1, Btc, Eth);
        var ack = await client.ReceiveAsync();
        Assert.Equal("subscribed", ack.MessageType);
        Assert.Equal(1, ack.Json.GetProperty("id").GetInt64());
        Assert.Equal(new[] { Btc, Eth }, ack.Json.GetProperty("topics").EnumerateArray().Select(t => t.GetString()));

        var seqs = new Dictionary<string, List<long>> { [Btc] = new(), [Eth] = new() };
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await client.ReceiveUntilAsync(m =>
        {
            Assert.Equal("tick", m.MessageType);
            var tick = m.Json;
            seqs[tick.GetProperty("topic").GetString()!].Add(tick.GetProperty("seq").GetInt64());
            Assert.True(tick.GetProperty("price").GetDouble() > 0);
            Assert.InRange(tick.GetProperty("ts").GetInt64(), now - 60_000, now + 60_000);
            return seqs.Values.All(s => s.Count >= 20);
        });

        foreach (var (topic, list) in seqs)
            Assert.Equal(Enumerable.Range(1, list.Count).Select(i => (long)i), list);
        Assert.True(host.Stats.MessagesSentFor(Btc) >= 20);
        Assert.Equal(1, host.Stats.ConnectionsAccepted);
    }

    [Fact]
    public async Task Unknown_topic_is_an_error_and_known_ones_still_subscribe()
    {
        await using var host = await StartAsync();
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        await client.SubscribeAsync(7, "NOPE-USD", Btc);
        var error = await client.ReceiveAsync();
        Assert.Equal("error", error.MessageType);
        Assert.Equal("unknown_topic", error.Json.GetProperty("code").GetString());
        Assert.Equal(7, error.Json.GetProperty("id").GetInt64());
        var ack = await client.ReceiveAsync();
        Assert.Equal("subscribed", ack.MessageType);
        Assert.Equal(new[] { Btc }, ack.Json.GetProperty("topics").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public async Task Malformed_request_gets_bad_request_error_and_socket_stays_open()
    {
        await using var host = await StartAsync();
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        await client.SendAsync("{not json");
        var error = await client.ReceiveAsync();
        Assert.Equal("error", error.MessageType);
        Assert.Equal("bad_request", error.Json.GetProperty("code").GetString());

        await client.SendAsync("""{"op":"ping","id":5}""");
        Assert.Equal("pong", (await client.ReceiveAsync()).MessageType);
        Assert.Equal(WebSocketState.Open, client.Socket.State);
    }

    [Fact]
    public async Task App_ping_gets_pong_with_same_id()
    {
        await using var host = await StartAsync();
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        await client.SendAsync("""{"op":"ping","id":12345}""");
        var pong = await client.ReceiveAsync();

        Assert.Equal("pong", pong.MessageType);
        Assert.Equal(12345, pong.Json.GetProperty("id").GetInt64());
    }

    [Fact]
    public async Task Unsubscribe_stops_ticks_for_that_topic()
    {
        await using var host = await StartAsync();
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);
        await client.SubscribeAsync(1, Btc, Eth);
        await client.ReceiveUntilAsync(m => m.MessageType == "tick" && m.Json.GetProperty("topic").GetString() == Btc);

        await client.SendAsync($$"""{"op":"unsubscribe","topics":["{{Btc}}"],"id":2}""");
        await client.ReceiveUntilAsync(m => m.MessageType == "unsubscribed");
        // Everything after the reply is written after the unsubscribe took effect.
        var ethAfter = 0;
        await client.ReceiveUntilAsync(m =>
        {
            Assert.NotEqual(Btc, m.Json.GetProperty("topic").GetString());
            return ++ethAfter >= 20;
        });
    }

    [Fact]
    public async Task Heartbeats_arrive_when_enabled()
    {
        await using var host = await StartAsync(o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(10));
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        var heartbeat = await client.ReceiveAsync();

        Assert.Equal("heartbeat", heartbeat.MessageType);
        Assert.True(heartbeat.Json.GetProperty("ts").GetInt64() > 0);
    }
}
