using TradingAdapters;
using TradingAdapters.Protocol;
using Transport;
using Transport.WebSockets;
using VenueSimulator;
using Xunit.Abstractions;

namespace Samples.Tests.Rotation;

/// <summary>
/// Issue 21's proof for make-before-break rotation over the venue simulator (venue-wide sequences, so a tick
/// has the same (topic, seq) on every socket): ten rotations while ticks flow, and the source must hold every
/// tick of every topic exactly once (zero gaps, zero duplicates), with one epoch advance per rotation and never
/// a down-edge.
/// </summary>
public sealed class RotationOverSimulatorTests(ITestOutputHelper output)
{
    private static readonly string[] Topics = ["BTC-USD", "ETH-USD", "SOL-USD"];

    private sealed class DownEdges : IObserver<LifecycleSnapshot>
    {
        public int Count;

        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(LifecycleSnapshot value)
        {
            if (value.Phase == ConnectionPhase.Reconnecting)
            {
                Interlocked.Increment(ref Count);
            }
        }
    }

    [Fact]
    public async Task Ten_rotations_deliver_every_tick_exactly_once_without_a_down_edge()
    {
        await using var venue = await VenueSimulatorHost.StartAsync(new SimulatorOptions
        {
            Topics = Topics,
            TickInterval = TimeSpan.FromMilliseconds(5),            // 200 ticks/s per topic
            VenueSequences = true,
            Seed = 21,
            ServerPingInterval = null,
            InboundMessagesPerSecond = 1_000,
            MaxConnectionLifetime = null,
        });
        await using var connection = await new WebSocketTransportBuilder()
            .Configure(o => o.WithName("sim-rotation").WithUri(venue.WebSocketUri)
                .WithBackoff(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1))
                .WithCloseTimeout(TimeSpan.FromSeconds(1)))
            .WithSessionInitializer(new SubscribeOnEachSocket(Topics, TimeSpan.FromSeconds(5)))
            .WithDedupeKey(BinanceLikeAdapter.KeySelector)
            .Build()
            .ConnectAsync();

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await connection.Lifecycle.WaitUntilUpAsync(bound.Token);
        var downEdges = new DownEdges();
        using var subscription = connection.Lifecycle.Subscribe(downEdges);
        var seen = Topics.ToDictionary(t => t, _ => new HashSet<long>(), StringComparer.Ordinal);
        long duplicates = 0, ticks = 0;
        using var tickSignal = new SemaphoreSlim(0);
        var reader = Task.Run(async () =>
        {
            await foreach (var frame in connection.Source.WithCancellation(bound.Token))
            {
                if (VenueMessage.Parse(frame) is { Type: "tick", Topic: { } topic, Seq: { } seq })
                {
                    lock (seen)
                    {
                        if (!seen[topic].Add(seq))
                        {
                            duplicates++;
                        }
                    }

                    Interlocked.Increment(ref ticks);
                    tickSignal.Release();
                }
            }
        });

        // Waits (bounded by the test's token) until n more ticks were read: conditions, not timers.
        async Task MoreTicksAsync(long n)
        {
            var target = Interlocked.Read(ref ticks) + n;
            while (Interlocked.Read(ref ticks) < target)
            {
                await tickSignal.WaitAsync(bound.Token);
            }
        }

        var results = new List<RotationResult>();
        for (var i = 0; i < 10; i++)
        {
            await MoreTicksAsync(30);                                 // the feed flows on the current socket
            var result = await connection.RotateAsync(bound.Token);
            output.WriteLine($"rotation {i + 1}: {result}");
            results.Add(result);
        }

        await MoreTicksAsync(30);                                     // ticks after the last switch: the new socket serves
        var final = connection.Lifecycle.Current;
        await connection.DisposeAsync();
        await reader;

        long gaps;
        lock (seen)
        {
            gaps = seen.Sum(p => p.Value.Count == 0 ? 0 : p.Value.Max() - p.Value.Min() + 1 - p.Value.Count);
            output.WriteLine($"{ticks} ticks ({string.Join(", ", seen.Select(p => $"{p.Key} {p.Value.Min()}..{p.Value.Max()}"))}), gaps {gaps}, duplicates {duplicates}, " +
                $"duplicates dropped by the overlaps {results.Sum(r => r.DuplicatesDropped)}, overlap median {results.Select(r => r.Overlap.TotalMilliseconds).Order().ElementAt(5):0} ms");
        }

        output.WriteLine($"{final}; simulator {venue.Stats}");
        Assert.All(results, r => Assert.Equal(RotationOutcome.Rotated, r.Outcome));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), results.Select(r => r.Epoch));
        Assert.Equal(10, final.Epoch);
        Assert.Equal(0, downEdges.Count);
        Assert.Equal(0, gaps);
        Assert.Equal(0, duplicates);
        Assert.Equal(0, final.TotalLagged);
        Assert.All(Topics, t => Assert.True(seen[t].Count > 100, $"{t}: {seen[t].Count} ticks"));
    }

    [Fact]
    public async Task Scheduled_rotation_before_the_venue_lifetime_never_goes_down()
    {
        await using var venue = await VenueSimulatorHost.StartAsync(new SimulatorOptions
        {
            Topics = Topics,
            TickInterval = TimeSpan.FromMilliseconds(10),
            VenueSequences = true,
            Seed = 22,
            ServerPingInterval = null,
            InboundMessagesPerSecond = 1_000,
            MaxConnectionLifetime = TimeSpan.FromSeconds(3),          // the venue closes each socket with 1001 after 3 s
        });
        await using var connection = await new WebSocketTransportBuilder()
            .Configure(o => o.WithName("sim-scheduled").WithUri(venue.WebSocketUri)
                .WithBackoff(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1))
                .WithCloseTimeout(TimeSpan.FromSeconds(1))
                .WithSessionLifetime(TimeSpan.FromSeconds(3), rotateBefore: TimeSpan.FromSeconds(1.5)))   // a lead a loaded CI machine cannot lose
            .WithSessionInitializer(new SubscribeOnEachSocket(Topics, TimeSpan.FromSeconds(5)))
            .WithDedupeKey(BinanceLikeAdapter.KeySelector)
            .Build()
            .ConnectAsync();

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await connection.Lifecycle.WaitUntilUpAsync(bound.Token);
        var downEdges = new DownEdges();
        using var subscription = connection.Lifecycle.Subscribe(downEdges);
        var seen = Topics.ToDictionary(t => t, _ => new HashSet<long>(), StringComparer.Ordinal);
        long duplicates = 0, ticks = 0;
        using var tickSignal = new SemaphoreSlim(0);
        var reader = Task.Run(async () =>
        {
            await foreach (var frame in connection.Source.WithCancellation(bound.Token))
            {
                if (VenueMessage.Parse(frame) is { Type: "tick", Topic: { } topic, Seq: { } seq })
                {
                    lock (seen)
                    {
                        if (!seen[topic].Add(seq))
                        {
                            duplicates++;
                        }
                    }

                    Interlocked.Increment(ref ticks);
                    tickSignal.Release();
                }
            }
        });

        // Four rotations: each socket is rotated 1.5 s after its up-edge, before the venue's 1001 at 3 s.
        // Re-checked on every tick read (ticks flow every 10 ms per topic), bounded by the test's token.
        while (connection.Lifecycle.Current.Epoch < 4)
        {
            await tickSignal.WaitAsync(bound.Token);
        }

        var target = Interlocked.Read(ref ticks) + 30;                // ticks after the fourth switch: the new socket serves
        while (Interlocked.Read(ref ticks) < target)
        {
            await tickSignal.WaitAsync(bound.Token);
        }

        var final = connection.Lifecycle.Current;
        await connection.DisposeAsync();
        await reader;
        long gaps;
        lock (seen)
        {
            gaps = seen.Sum(p => p.Value.Count == 0 ? 0 : p.Value.Max() - p.Value.Min() + 1 - p.Value.Count);
            foreach (var (topic, seqs) in seen)
            {
                var missing = Enumerable.Range((int)seqs.Min(), (int)(seqs.Max() - seqs.Min() + 1)).Where(q => !seqs.Contains(q));
                output.WriteLine($"{topic} {seqs.Min()}..{seqs.Max()} missing {string.Join(",", missing)}");
            }
        }

        output.WriteLine($"{final}; gaps {gaps}, duplicates {duplicates}, down-edges {downEdges.Count}; simulator {venue.Stats}");
        Assert.Equal(0, downEdges.Count);
        Assert.Equal(0, gaps);
        Assert.Equal(0, duplicates);
        Assert.Equal(0, final.LastOutage?.Ticks ?? 0);               // never down: no outage was ever measured
    }
}
