using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Simulator;

/// <summary>
/// The simulator's venue-wide sequences (SimulatorOptions.VenueSequences), which redundant legs and rotation
/// deduplicate by, and the per-query drop that cuts one leg of a redundant client.
/// </summary>
public sealed class VenueSequenceTests
{
    [Fact]
    public async Task Venue_sequences_are_shared_by_every_connection_and_continue_across_subscriptions()
    {
        await using var host = await StartAsync(o => o.VenueSequences = true);
        await using var first = await SimClient.ConnectAsync(host.WebSocketUri);
        await first.SubscribeAsync(1, Btc);
        Assert.Equal("subscribed", (await first.ReceiveAsync()).MessageType);
        var a = await TicksAsync(first, 10);

        await using var second = await SimClient.ConnectAsync(host.WebSocketUri);
        await second.SubscribeAsync(1, Btc);
        Assert.Equal("subscribed", (await second.ReceiveAsync()).MessageType);
        var b = await TicksAsync(second, 20);
        a.AddRange(await TicksAsync(first, 30));

        // Tape.T1: each connection's ticks are +1 apart; the second starts at the venue's seq, not 1.
        AssertContiguous(a);
        AssertContiguous(b);
        Assert.True(b[0].Seq > a[0].Seq, $"second connection started at {b[0].Seq}");

        // The same seq carries the same price on both: one venue message, two copies.
        var common = b.Select(t => t.Seq).Intersect(a.Select(t => t.Seq)).ToList();
        Assert.True(common.Count >= 10, $"{common.Count} ticks in common");
        Assert.All(common, seq => Assert.Equal(a.Single(t => t.Seq == seq).Price, b.Single(t => t.Seq == seq).Price));

        // A re-subscription continues the venue's numbering.
        await first.SubscribeAsync(2, Btc);
        await first.ReceiveUntilAsync(m => m.MessageType == "subscribed");
        var again = await TicksAsync(first, 3);
        Assert.True(again[0].Seq > a[^1].Seq, $"{again[0].Seq} after {a[^1].Seq}");
    }

    [Fact]
    public async Task DropConnectionsWithQuery_cuts_only_the_matching_connections()
    {
        await using var host = await StartAsync(o => o.VenueSequences = true);
        await using var legA = await SimClient.ConnectAsync(new Uri(host.WebSocketUri + "?leg=a"));
        await using var legB = await SimClient.ConnectAsync(new Uri(host.WebSocketUri + "?leg=b"));
        await legB.SubscribeAsync(1, Btc);
        await legB.ReceiveAsync();
        await host.WaitForStatsAsync(s => s.ConnectionsAccepted == 2);

        Assert.Equal(1, host.DropConnectionsWithQuery("leg=a"));
        await Assert.ThrowsAnyAsync<Exception>(async () => await legA.ReceiveAsync());
        Assert.Equal(2, (await TicksAsync(legB, 2)).Count);
        await host.WaitForStatsAsync(s => s.ActiveConnections == 1 && s.Disconnects(VenueSimulator.DisconnectReason.Dropped) == 1);
    }

    private static void AssertContiguous(List<(long Seq, double Price)> ticks) =>
        Assert.Equal(Enumerable.Range(0, ticks.Count).Select(i => ticks[0].Seq + i), ticks.Select(t => t.Seq));

    private static async Task<List<(long Seq, double Price)>> TicksAsync(SimClient client, int count)
    {
        var ticks = new List<(long, double)>();
        await client.ReceiveUntilAsync(m =>
        {
            if (m.MessageType == "tick")
            {
                ticks.Add((m.Json.GetProperty("seq").GetInt64(), m.Json.GetProperty("price").GetDouble()));
            }

            return ticks.Count >= count;
        });
        return ticks;
    }
}
