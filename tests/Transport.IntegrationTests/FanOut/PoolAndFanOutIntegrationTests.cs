using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using Transport.Testing;
using Transport.WebSockets;
using Transport.WebSockets.FanOut;
using Transport.WebSockets.Pool;
using Xunit.Abstractions;

namespace Transport.IntegrationTests.FanOut;

/// <summary>The pool and the fan-out over real loopback sockets against Kestrel. Waits are on conditions, bounded.</summary>
public sealed class PoolAndFanOutIntegrationTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(PoolPlacement.Spread, 5, 20)]                  // 5 connections of 20 keys
    [InlineData(PoolPlacement.FillFirst, 4, 25)]               // fill-first: 4 of 25, the 5th slot stays closed
    public async Task Pool_of_5_with_100_keys_at_cap_25_survives_the_server_cutting_every_connection_and_each_resubscribes_only_its_share(PoolPlacement placement, int connections, int share)
    {
        // Woken by every server receipt and every lifecycle change of the pool; conditions are re-checked on each wake.
        var changes = new Changes();

        // Per server connection: the subscribe frames it received, and the keys they named.
        var frames = new ConcurrentDictionary<int, ConcurrentQueue<string>>();
        var subscribed = new ConcurrentDictionary<int, ConcurrentQueue<string>>();
        var sessions = new ConcurrentDictionary<int, ServerSession>();
        await using var server = await LoopbackServer.StartAsync(async session =>
        {
            await session.AcceptAsync();
            sessions[session.Number] = session;
            var keys = subscribed.GetOrAdd(session.Number, _ => new ConcurrentQueue<string>());
            var texts = frames.GetOrAdd(session.Number, _ => new ConcurrentQueue<string>());
            try
            {
                while (true)
                {
                    var message = await session.ReceiveAsync();
                    if (message.Type == WebSocketMessageType.Close)
                    {
                        return;
                    }

                    texts.Enqueue(message.Text);
                    if (message.Text.StartsWith("sub:", StringComparison.Ordinal))
                    {
                        foreach (var key in message.Text[4..].Split(','))
                        {
                            keys.Enqueue(key);
                        }
                    }

                    changes.Poke();
                }
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
            {
                // Cut by the test.
            }
        });

        // One connector, so one connect-attempt gate for the whole pool (cap 25 attempts per minute here).
        var connector = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri(server.WebSocketUri)
                .WithName("it")
                .WithBackoff(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(500))
                .WithAttemptRateLimit(25, TimeSpan.FromMinutes(1)))
            .Build();
        await using var pool = new ConnectionPool(new ConnectionPoolOptions { Name = "it", PerConnectionCap = 25, MaxConnections = 5, Placement = placement }, new TextProtocol(), connector);

        var keys = Enumerable.Range(0, 100).Select(i => $"k{i:000}").ToList();
        await pool.AddAsync(keys);
        var watches = pool.Connections.Select(c => c.Lifecycle.Subscribe(changes)).ToList();
        try
        {
            await changes.WaitUntilAsync(() => pool.Current.AllSubscribed && subscribed.Values.Sum(q => q.Count) == 100, "first subscriptions");

            var first = subscribed.ToDictionary(p => p.Key, p => p.Value.Order().ToList());
            Assert.Equal(connections, first.Count);
            Assert.All(first.Values, keysOfOne => Assert.Equal(share, keysOfOne.Count));
            Assert.Equal(keys, first.Values.SelectMany(k => k).Order());
            Assert.All(frames.Values, texts => Assert.Single(texts));      // one replay frame per socket, nothing else

            foreach (var session in sessions.Values)
            {
                session.Abort();                                          // the server cuts every connection
            }

            await changes.WaitUntilAsync(
                () => pool.Current is { AllSubscribed: true } now && now.Connections.All(c => c.Epoch == 1) && subscribed.Count == 2 * connections && subscribed.Values.Sum(q => q.Count) == 200,
                "resubscribed on epoch 1");

            var second = subscribed.Where(p => !first.ContainsKey(p.Key)).Select(p => p.Value.Order().ToList()).ToList();
            Assert.Equal(connections, second.Count);
            foreach (var keysOfOne in second)
            {
                // Each new socket got exactly one old socket's share: no more, no less, no duplicates.
                Assert.Contains(first.Values, old => old.SequenceEqual(keysOfOne));
            }

            Assert.Equal(keys, second.SelectMany(k => k).Order());
            Assert.All(frames.Values, texts => Assert.Single(texts));      // exactly one subscribe frame per socket, counts exact
            Assert.InRange(pool.Connections.Sum(c => c.Lifecycle.Current.Attempts), 2 * connections, 25);   // within the one shared gate
            Assert.Equal(0, pool.Current.Lost);
            output.WriteLine($"{placement}: {pool.Current}; shares {string.Join(',', pool.Current.Connections.Select(c => c.Subscriptions))}");
        }
        finally
        {
            watches.ForEach(w => w.Dispose());
        }
    }

    [Fact]
    public async Task Fan_out_with_a_stalled_subscriber_leaves_the_others_delivery_rate_unchanged()
    {
        const int frames = 200_000;
        await MeasureAsync(20_000, withStalled: false);              // warm-up (JIT, Kestrel), discarded
        var baseline = await MeasureAsync(frames, withStalled: false);
        var stalled = await MeasureAsync(frames, withStalled: true);
        output.WriteLine($"live subscriber, 100 B frames, {frames} frames: without a stalled subscriber {baseline.Rate:N0} frames/s; with one {stalled.Rate:N0} frames/s (stalled dropped {stalled.StalledDropped:N0}).");

        // Figures, not a timed assertion: every frame read reached the live subscribers.
        Assert.Equal(baseline.Read, baseline.Delivered);
        Assert.Equal(stalled.Read, stalled.Delivered);
        Assert.True(stalled.StalledDropped > 0);
    }

    private async Task<(double Rate, long Read, long Delivered, long StalledDropped)> MeasureAsync(int frames, bool withStalled)
    {
        await using var server = await LoopbackServer.StartAsync(async session =>
        {
            await session.AcceptAsync();
            await session.FloodAsync(frames, size: 100, text: false);
            await session.WaitForCloseAsync();
        });

        var connection = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri(server.WebSocketUri).WithReceiveRing(frames, 1L << 30))
            .Build()
            .Start();
        await using var _ = connection;
        await using var fanOut = connection.Source.FanOut();
        var live = fanOut.Subscribe(new FanOutSubscriberOptions { Name = "live", CapacityFrames = frames });
        var other = fanOut.Subscribe(new FanOutSubscriberOptions { Name = "other", CapacityFrames = frames });
        var stalled = withStalled ? fanOut.Subscribe(new FanOutSubscriberOptions { Name = "stalled", CapacityFrames = 1_000 }) : null;
        fanOut.Start();

        var clock = Stopwatch.StartNew();
        var reading = Task.WhenAll(ReadAsync(live, frames), ReadAsync(other, frames));
        await reading.WaitAsync(Bound);
        var elapsed = clock.Elapsed;
        return (frames / elapsed.TotalSeconds, fanOut.FramesRead, live.Stats.Delivered, stalled?.Stats.Dropped ?? 0);
    }

    private static async Task ReadAsync(FanOutSubscriber subscriber, int count)
    {
        long seen = 0;
        while (seen < count && await subscriber.WaitToReadAsync().ConfigureAwait(false))
        {
            while (subscriber.TryRead(out _))
            {
                seen++;
            }
        }
    }

    /// <summary>
    /// A wake-up signal instead of a polling loop: every server receipt and lifecycle change pokes it; the
    /// waiter re-checks its condition on each poke (a poke between check and wait is kept by the semaphore),
    /// bounded by <see cref="Bound"/> in total so only a real hang fails.
    /// </summary>
    private sealed class Changes : IObserver<LifecycleSnapshot>
    {
        private readonly SemaphoreSlim _pokes = new(0);

        public void Poke() => _pokes.Release();

        public void OnNext(LifecycleSnapshot value) => Poke();

        public void OnCompleted() => Poke();

        public void OnError(Exception error) => Poke();

        public async Task WaitUntilAsync(Func<bool> condition, string what)
        {
            var bound = Stopwatch.StartNew();
            while (!condition())
            {
                var left = Bound - bound.Elapsed;
                if (left <= TimeSpan.Zero || !await _pokes.WaitAsync(left).ConfigureAwait(false))
                {
                    if (condition())
                    {
                        return;
                    }

                    throw new TimeoutException($"Not reached within {Bound}: {what}.");
                }
            }
        }
    }

    private sealed class TextProtocol : ISubscriptionProtocol
    {
        public IReadOnlyList<Frame> Subscribe(IReadOnlyList<string> keys) => [Frame.Text("sub:" + string.Join(',', keys))];

        public IReadOnlyList<Frame> Unsubscribe(IReadOnlyList<string> keys) => [Frame.Text("unsub:" + string.Join(',', keys))];
    }
}
