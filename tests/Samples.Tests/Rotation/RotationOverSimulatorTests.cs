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

    /// <summary>
    /// Reads every tick of a source on a task of its own and records (topic, seq): the gaps and duplicates the
    /// proof judges, and a signal per tick so the tests wait on conditions (n more ticks, an epoch), not timers.
    /// </summary>
    private sealed class TickTape : IDisposable
    {
        private readonly Dictionary<string, HashSet<long>> _seen = Topics.ToDictionary(t => t, _ => new HashSet<long>(), StringComparer.Ordinal);
        private readonly SemaphoreSlim _signal = new(0);
        private long _duplicates;
        private long _ticks;

        public TickTape(IFrameSource source, CancellationToken cancellationToken) => Reader = Task.Run(async () =>
        {
            await foreach (var frame in source.WithCancellation(cancellationToken))
            {
                if (VenueMessage.Parse(frame) is { Type: "tick", Topic: { } topic, Seq: { } seq })
                {
                    lock (_seen)
                    {
                        if (!_seen[topic].Add(seq))
                        {
                            _duplicates++;
                        }
                    }

                    Interlocked.Increment(ref _ticks);
                    _signal.Release();
                }
            }
        });

        /// <summary>The reading task (ends when the source completes or the token fires).</summary>
        public Task Reader { get; }

        public long Ticks => Interlocked.Read(ref _ticks);

        public long Duplicates
        {
            get
            {
                lock (_seen)
                {
                    return _duplicates;
                }
            }
        }

        /// <summary>Sequence numbers missing between each topic's first and last tick.</summary>
        public long Gaps
        {
            get
            {
                lock (_seen)
                {
                    return _seen.Sum(p => p.Value.Count == 0 ? 0 : p.Value.Max() - p.Value.Min() + 1 - p.Value.Count);
                }
            }
        }

        public int Count(string topic)
        {
            lock (_seen)
            {
                return _seen[topic].Count;
            }
        }

        /// <summary>Each topic's range and its missing sequence numbers.</summary>
        public IEnumerable<string> Describe()
        {
            lock (_seen)
            {
                return _seen.Select(p => $"{p.Key} {p.Value.Min()}..{p.Value.Max()} missing {string.Join(",", Enumerable.Range((int)p.Value.Min(), (int)(p.Value.Max() - p.Value.Min() + 1)).Where(q => !p.Value.Contains(q)))}").ToList();
            }
        }

        /// <summary>Waits until <paramref name="condition"/> holds, re-checked on every tick read; bounded by the token.</summary>
        public async Task WaitUntilAsync(Func<bool> condition, CancellationToken cancellationToken)
        {
            while (!condition())
            {
                await _signal.WaitAsync(cancellationToken);
            }
        }

        /// <summary>Waits until <paramref name="n"/> more ticks were read.</summary>
        public Task MoreTicksAsync(long n, CancellationToken cancellationToken)
        {
            var target = Ticks + n;
            return WaitUntilAsync(() => Ticks >= target, cancellationToken);
        }

        public void Dispose() => _signal.Dispose();
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
        using var tape = new TickTape(connection.Source, bound.Token);

        var results = new List<RotationResult>();
        for (var i = 0; i < 10; i++)
        {
            await tape.MoreTicksAsync(90, bound.Token);               // the feed flows on the current socket (30 ticks a topic)
            var result = await connection.RotateAsync(bound.Token);
            output.WriteLine($"rotation {i + 1}: {result}");
            results.Add(result);
        }

        await tape.MoreTicksAsync(90, bound.Token);                   // ticks after the last switch: the new socket serves
        var final = connection.Lifecycle.Current;
        await connection.DisposeAsync();
        await tape.Reader;

        var gaps = tape.Gaps;
        var duplicates = tape.Duplicates;
        output.WriteLine($"{tape.Ticks} ticks ({string.Join(", ", tape.Describe())}), gaps {gaps}, duplicates {duplicates}, " +
            $"duplicates dropped by the overlaps {results.Sum(r => r.DuplicatesDropped)}, overlap median {results.Select(r => r.Overlap.TotalMilliseconds).Order().ElementAt(5):0} ms");

        output.WriteLine($"{final}; simulator {venue.Stats}");
        Assert.All(results, r => Assert.Equal(RotationOutcome.Rotated, r.Outcome));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), results.Select(r => r.Epoch));
        Assert.Equal(10, final.Epoch);
        Assert.Equal(0, downEdges.Count);
        Assert.Equal(0, gaps);
        Assert.Equal(0, duplicates);
        Assert.Equal(0, final.TotalLagged);
        Assert.All(Topics, t => Assert.True(tape.Count(t) > 100, $"{t}: {tape.Count(t)} ticks"));
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
        using var tape = new TickTape(connection.Source, bound.Token);

        // Four rotations: each socket is rotated 1.5 s after its up-edge, before the venue's 1001 at 3 s.
        // Re-checked on every tick read (ticks flow every 10 ms per topic), bounded by the test's token.
        await tape.WaitUntilAsync(() => connection.Lifecycle.Current.Epoch >= 4, bound.Token);
        await tape.MoreTicksAsync(30, bound.Token);                   // ticks after the fourth switch: the new socket serves

        var final = connection.Lifecycle.Current;
        await connection.DisposeAsync();
        await tape.Reader;
        var gaps = tape.Gaps;
        var duplicates = tape.Duplicates;
        foreach (var line in tape.Describe())
        {
            output.WriteLine(line);
        }

        output.WriteLine($"{final}; gaps {gaps}, duplicates {duplicates}, down-edges {downEdges.Count}; simulator {venue.Stats}");
        Assert.Equal(0, downEdges.Count);
        Assert.Equal(0, gaps);
        Assert.Equal(0, duplicates);
        Assert.Equal(0, final.LastOutage?.Ticks ?? 0);               // never down: no outage was ever measured
    }
}
