using System.Globalization;
using TradingAdapters;
using TradingAdapters.Protocol;
using Transport;
using Transport.WebSockets;
using Transport.WebSockets.Legs;
using VenueSimulator;
using Xunit.Abstractions;

namespace Samples.Tests.Legs;

/// <summary>
/// Issue 21's proof for redundant legs over the venue simulator (venue-wide sequences): two legs, one of them cut
/// at the TCP level every 2 s (alternating), and the merged source must hold every tick of every topic exactly
/// once: zero gaps, zero duplicates. 12 s in CI; <c>LEGS_SOAK_SECONDS=60</c> runs the minute.
/// </summary>
public sealed class LegsOverSimulatorTests(ITestOutputHelper output)
{
    private static readonly string[] Topics = ["BTC-USD", "ETH-USD", "SOL-USD"];
    private static readonly TimeSpan CutEvery = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Two_legs_with_one_cut_every_two_seconds_deliver_every_tick_exactly_once()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("LEGS_SOAK_SECONDS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 12;
        await using var venue = await VenueSimulatorHost.StartAsync(new SimulatorOptions
        {
            Topics = Topics,
            TickInterval = TimeSpan.FromMilliseconds(5),            // 200 ticks/s per topic, 600/s in all
            VenueSequences = true,
            Seed = 21,
            ServerPingInterval = null,
            InboundMessagesPerSecond = 1_000,
            MaxConnectionLifetime = null,
        });
        var connector = new WebSocketTransportBuilder()
            .Configure(o => o.WithName("sim").WithUri(venue.WebSocketUri)
                .WithBackoff(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1))
                .WithStableAfter(TimeSpan.FromMilliseconds(500))   // a leg that lived half a second comes straight back
                .WithCloseTimeout(TimeSpan.FromSeconds(1)))
            .Build();
        var subscribe = new SubscribeOnEachSocket(Topics, TimeSpan.FromSeconds(5));
        await using var legs = new RedundantConnection(
            new RedundantConnectionOptions
            {
                Name = "sim-legs",
                KeySelector = BinanceLikeAdapter.KeySelector,
                Legs =
                [
                    new LegOptions { Name = "a", Uri = new Uri(venue.WebSocketUri + "?leg=a"), Initializer = subscribe },
                    new LegOptions { Name = "b", Uri = new Uri(venue.WebSocketUri + "?leg=b"), Initializer = subscribe },
                ],
            },
            connector);

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 30));
        await Task.WhenAll(legs.Legs.Select(l => l.Lifecycle.WaitUntilUpAsync(bound.Token).AsTask()));
        var seen = Topics.ToDictionary(t => t, _ => new HashSet<long>(), StringComparer.Ordinal);
        long duplicates = 0, ticks = 0;
        var reader = Task.Run(async () =>
        {
            await foreach (var frame in legs.Source.WithCancellation(bound.Token))
            {
                if (VenueMessage.Parse(frame) is { Type: "tick", Topic: { } topic, Seq: { } seq })
                {
                    ticks++;
                    if (!seen[topic].Add(seq))
                    {
                        duplicates++;
                    }
                }
            }
        });

        // The cutter: every 2 s, alternately, the leg whose partner has been up for a while loses its TCP connection.
        int cuts = 0;
        var end = Environment.TickCount64 + (seconds * 1000L);
        var next = "a";
        while (Environment.TickCount64 < end)
        {
            await Task.Delay(CutEvery, bound.Token);
            var other = legs.Legs.Single(l => l.Name != next);
            if (other.Lifecycle.Current is { IsUp: true, UpSince: { } since } && DateTimeOffset.UtcNow - since > TimeSpan.FromMilliseconds(300))
            {
                cuts += venue.DropConnectionsWithQuery("leg=" + next);
            }

            next = next == "a" ? "b" : "a";
        }

        await Task.WhenAll(legs.Legs.Select(l => l.Lifecycle.WaitUntilUpAsync(bound.Token).AsTask()));
        await Task.Delay(200, bound.Token);                          // the last ticks in flight
        var final = legs.Current;
        await legs.DisposeAsync();
        await reader;

        var gaps = seen.Sum(p => p.Value.Count == 0 ? 0 : p.Value.Max() - p.Value.Min() + 1 - p.Value.Count);
        output.WriteLine($"{seconds} s, {cuts} cuts, {ticks} ticks merged ({string.Join(", ", seen.Select(p => $"{p.Key} {p.Value.Min()}..{p.Value.Max()}"))}), gaps {gaps}, duplicates {duplicates}");
        output.WriteLine(final.ToString());
        output.WriteLine($"attempts {final.Aggregate.Attempts}, leg epochs {string.Join('/', final.Legs.Select(l => l.Lifecycle.Epoch))}, simulator {venue.Stats}");

        Assert.True(cuts >= (seconds / 2) - 2, $"only {cuts} cuts in {seconds} s");
        Assert.Equal(0, gaps);
        Assert.Equal(0, duplicates);
        Assert.Equal(0, final.Aggregate.Epoch);                      // never down: no gap to report either
        Assert.Equal(0, final.Aggregate.TotalLagged);
        // A floor that proves the feed flowed throughout, not a rate: a loaded machine fires the 5 ms timer late.
        Assert.All(Topics, t => Assert.True(seen[t].Count > seconds * 10, $"{t}: {seen[t].Count} ticks"));
        Assert.All(final.Legs, l => Assert.True(l.Wins > 0 && l.Duplicates > 0, l.ToString()));
    }
}
