using System.Diagnostics;
using System.Net.WebSockets;
using VenueSimulator;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Simulator;

public sealed class FaultTests
{
    private static string TopicOf(Received m) => m.Json.GetProperty("topic").GetString()!;

    private static long SeqOf(Received m) => m.Json.GetProperty("seq").GetInt64();

    [Fact]
    public async Task ExpireTopic_silences_one_topic_and_resubscribe_revives_it()
    {
        await using var host = await StartAsync();
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);
        await client.SubscribeAsync(1, Btc, Eth);
        long lastEth = 0;
        void TrackEth(Received m)
        {
            // Eth is never touched: its sequence runs on strictly +1 through the whole test.
            if (m.MessageType != "tick" || TopicOf(m) != Eth) return;
            Assert.Equal(lastEth + 1, SeqOf(m));
            lastEth = SeqOf(m);
        }
        var btcSeen = 0;
        await client.ReceiveUntilAsync(m => m.MessageType == "tick" && TopicOf(m) == Btc && ++btcSeen >= 3 && lastEth >= 3, TrackEth);

        host.ExpireTopic(Btc);
        // The pong is written after the expiry took effect, so no Btc tick may follow it.
        await client.SendAsync("""{"op":"ping","id":99}""");
        await client.ReceiveUntilAsync(m => m.MessageType == "pong", TrackEth);
        var ethAtPong = lastEth;
        await client.ReceiveUntilAsync(m =>
        {
            Assert.NotEqual(Btc, TopicOf(m));
            return lastEth >= ethAtPong + 30;
        }, TrackEth);
        Assert.Equal(WebSocketState.Open, client.Socket.State);

        await client.SubscribeAsync(2, Btc);
        await client.ReceiveUntilAsync(m => m.MessageType == "subscribed", TrackEth);
        var revived = new List<long>();
        await client.ReceiveUntilAsync(m =>
        {
            if (m.MessageType == "tick" && TopicOf(m) == Btc) revived.Add(SeqOf(m));
            return revived.Count >= 5;
        }, TrackEth);
        Assert.Equal(new long[] { 1, 2, 3, 4, 5 }, revived);
    }

    [Fact]
    public async Task DropAllConnections_aborts_without_a_close_frame()
    {
        await using var host = await StartAsync();
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);
        await client.SubscribeAsync(1, Btc);
        await client.ReceiveUntilAsync(m => m.MessageType == "tick");

        host.DropAllConnections();

        // A close frame would surface as InvalidOperationException from ReceiveUntilAsync.
        await Assert.ThrowsAsync<WebSocketException>(() => client.ReceiveUntilAsync(_ => false));
        await host.WaitForStatsAsync(s => s.Disconnects(DisconnectReason.Dropped) == 1 && s.ActiveConnections == 0);

        await using var again = await SimClient.ConnectAsync(host.WebSocketUri);
        await again.SendAsync("""{"op":"ping","id":1}""");
        Assert.Equal("pong", (await again.ReceiveAsync()).MessageType);
    }

    [Fact]
    public async Task StallAll_holds_every_message_for_its_duration_then_resumes_in_sequence()
    {
        var stall = TimeSpan.FromMilliseconds(300);
        await using var host = await StartAsync();
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);
        await client.SubscribeAsync(1, Btc);
        long last = 0;
        await client.ReceiveUntilAsync(m => m.MessageType == "tick" && (last = SeqOf(m)) >= 3);

        var clock = Stopwatch.StartNew();
        host.StallAll(stall);
        await client.SendAsync("""{"op":"ping","id":7}""");
        await client.ReceiveUntilAsync(m =>
        {
            if (m.MessageType == "tick")
            {
                Assert.Equal(last + 1, SeqOf(m));
                last = SeqOf(m);
            }
            return m.MessageType == "pong";
        });

        // The pong could only be written once the stall ended; the socket survived it.
        Assert.True(clock.Elapsed >= stall - TimeSpan.FromMilliseconds(20), $"pong after {clock.Elapsed}");
        Assert.Equal(WebSocketState.Open, client.Socket.State);
        var next = await client.ReceiveUntilAsync(m => m.MessageType == "tick");
        Assert.Equal(last + 1, SeqOf(next));
    }

    [Fact]
    public async Task Chaos_with_certain_drop_aborts_the_connection()
    {
        await using var host = await StartAsync(o =>
        {
            o.Chaos.Enabled = true;
            o.Chaos.Interval = TimeSpan.FromMilliseconds(20);
            o.Chaos.DropProbability = 1.0;
        });
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        await Assert.ThrowsAsync<WebSocketException>(() => client.ReceiveUntilAsync(_ => false));
        await host.WaitForStatsAsync(s => s.Disconnects(DisconnectReason.ChaosDropped) >= 1);
    }
}
