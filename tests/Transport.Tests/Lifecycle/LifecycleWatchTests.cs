using Microsoft.Extensions.Logging.Abstractions;
using Transport.Mock;
using Transport.Tests.Actor;
using Transport.WebSockets.Lifecycle;

namespace Transport.Tests.Lifecycle;

/// <summary>
/// Issue 23: <c>Lifecycle.WatchAsync()</c>, the lifecycle as an <see cref="IAsyncEnumerable{T}"/> with the
/// channel's coalescing (current first, newest wins, ends after the terminal snapshot). Published on a
/// manually pumped <see cref="LifecyclePublisher"/>: a snapshot reaches the stream only when the test
/// pumps, so each read is asserted right after the pump that delivered it (it completes synchronously).
/// </summary>
public sealed class LifecycleWatchTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    [Trait("Invariant", "Watch.W1")]
    public async Task W1_current_first_then_newest_wins_and_the_stream_ends_after_the_terminal_snapshot()
    {
        var spawner = new ManualSpawner();
        var publisher = new LifecyclePublisher(spawner, NullLogger.Instance);
        publisher.Publish(s => s with { Phase = ConnectionPhase.Connected });
        await using var watch = publisher.WatchAsync().GetAsyncEnumerator();

        var first = watch.MoveNextAsync(); // subscribes; the current snapshot is delivered by the next pump
        spawner.RunUntilIdle();
        Assert.True(await first.AsTask().WaitAsync(Bound));
        Assert.Equal((ConnectionPhase.Connected, 1L), (watch.Current.Phase, watch.Current.Version));

        // Three changes while the consumer is busy: it then reads the newest only, with the levels that matter.
        publisher.Publish(s => s with { Phase = ConnectionPhase.Reconnecting, DownSince = MockHarness.DefaultStart });
        publisher.Publish(s => s with { Phase = ConnectionPhase.Resumed, Epoch = 1, DownSince = null });
        publisher.Publish(s => s with { TotalLagged = 7 });
        spawner.RunUntilIdle();
        var next = watch.MoveNextAsync();
        Assert.True(next.IsCompletedSuccessfully);
        Assert.True(await next);
        Assert.Equal((ConnectionPhase.Resumed, 1L, 7L, 4L), (watch.Current.Phase, watch.Current.Epoch, watch.Current.TotalLagged, watch.Current.Version));

        publisher.Publish(s => s with { Phase = ConnectionPhase.Closed });
        spawner.RunUntilIdle();
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(ConnectionPhase.Closed, watch.Current.Phase);
        var end = watch.MoveNextAsync();
        Assert.True(end.IsCompletedSuccessfully);
        Assert.False(await end);
    }

    [Fact]
    [Trait("Invariant", "Watch.W2")]
    public async Task W2_a_consumer_that_does_not_read_never_holds_up_the_connection()
    {
        var h = ActorHarness.Start();
        await using var watch = h.Connection.Lifecycle.WatchAsync().GetAsyncEnumerator();
        var first = watch.MoveNextAsync();
        h.Pump();
        Assert.True(await first.AsTask().WaitAsync(Bound));

        // Fifty down-cycles while the consumer reads nothing: the actor runs them all.
        for (var i = 0; i < 50; i++)
        {
            h.Socket.Disconnect();
            h.Pump();
        }

        Assert.Equal(50, h.Now.Epoch);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        var late = watch.MoveNextAsync();
        Assert.True(late.IsCompletedSuccessfully);
        Assert.True(await late);
        Assert.Equal(h.Now, watch.Current); // the newest, and epoch 50 says it missed fifty cycles
    }

    [Fact]
    public async Task A_connection_watched_to_its_end_yields_the_down_edge_the_resume_and_Closed()
    {
        var h = ActorHarness.Start();
        var seen = new List<LifecycleSnapshot>();
        var reader = Task.Run(async () =>
        {
            await foreach (var s in h.Connection.Lifecycle.WatchAsync())
            {
                lock (seen)
                {
                    seen.Add(s);
                }
            }
        });

        Assert.True(h.PumpUntil(() => Count(seen) == 1, Bound));
        h.Socket.Disconnect();
        h.Pump();
        Assert.True(h.PumpUntil(() => Count(seen) >= 2 && Last(seen).Phase == ConnectionPhase.Resumed, Bound));
        var shutdown = h.ShutdownAsync();
        Assert.True(h.PumpUntil(() => shutdown.IsCompleted && reader.IsCompleted, Bound));
        await reader;

        Assert.Equal(ConnectionPhase.Connected, seen[0].Phase);
        Assert.Equal(ConnectionPhase.Closed, Last(seen).Phase);
        Assert.Equal(seen.Select(s => s.Version).Order(), seen.Select(s => s.Version)); // strictly in version order
        Assert.Equal(seen.Count, seen.Select(s => s.Version).Distinct().Count());

        static int Count(List<LifecycleSnapshot> list)
        {
            lock (list)
            {
                return list.Count;
            }
        }

        static LifecycleSnapshot Last(List<LifecycleSnapshot> list)
        {
            lock (list)
            {
                return list[^1];
            }
        }
    }

    [Fact]
    public async Task Cancelling_the_token_ends_the_stream_and_unsubscribes()
    {
        var spawner = new ManualSpawner();
        var lifecycle = new CountingLifecycle(new LifecyclePublisher(spawner, NullLogger.Instance));
        using var stop = new CancellationTokenSource();
        await using var watch = lifecycle.WatchAsync(stop.Token).GetAsyncEnumerator();
        var first = watch.MoveNextAsync();
        spawner.RunUntilIdle();
        Assert.True(await first.AsTask().WaitAsync(Bound));
        Assert.Equal(1, lifecycle.Active);

        var waiting = watch.MoveNextAsync().AsTask();
        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Bound));
        Assert.Equal(0, lifecycle.Active);
    }

    [Fact]
    public async Task A_stream_opened_on_a_terminal_lifecycle_yields_that_snapshot_and_ends()
    {
        var spawner = new ManualSpawner();
        var publisher = new LifecyclePublisher(spawner, NullLogger.Instance);
        publisher.Publish(s => s with { Phase = ConnectionPhase.Unrecoverable });
        spawner.RunUntilIdle();

        await using var watch = publisher.WatchAsync().GetAsyncEnumerator();

        var first = watch.MoveNextAsync();
        spawner.RunUntilIdle();
        Assert.True(await first.AsTask().WaitAsync(Bound));
        Assert.Equal(ConnectionPhase.Unrecoverable, watch.Current.Phase);
        Assert.False(await watch.MoveNextAsync().AsTask().WaitAsync(Bound));
    }

    [Fact]
    public async Task A_lifecycle_that_completes_without_replaying_still_yields_its_terminal_snapshot()
    {
        var terminal = LifecycleSnapshot.Initial with { Phase = ConnectionPhase.Closed, Version = 9 };
        var silent = new CompletedWithoutReplay(terminal);

        var seen = new List<LifecycleSnapshot>();
        await foreach (var s in silent.WatchAsync())
        {
            seen.Add(s);
        }

        Assert.Equal(terminal, Assert.Single(seen));
    }

    /// <summary>A terminal lifecycle whose Subscribe only completes (as a bare completed BehaviorSubject does).</summary>
    private sealed class CompletedWithoutReplay(LifecycleSnapshot terminal) : ILifecycleChannel
    {
        public LifecycleSnapshot Current => terminal;

        public Task Completion => Task.CompletedTask;

        public ValueTask<LifecycleSnapshot> WaitAsync(Func<LifecycleSnapshot, bool> predicate, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(terminal);

        public IDisposable Subscribe(IObserver<LifecycleSnapshot> observer)
        {
            observer.OnCompleted();
            return new CancellationTokenRegistration();
        }
    }

    /// <summary>A lifecycle that counts its live subscriptions.</summary>
    private sealed class CountingLifecycle(ILifecycleChannel inner) : ILifecycleChannel
    {
        private int _active;

        public int Active => Volatile.Read(ref _active);

        public LifecycleSnapshot Current => inner.Current;

        public Task Completion => inner.Completion;

        public ValueTask<LifecycleSnapshot> WaitAsync(Func<LifecycleSnapshot, bool> predicate, CancellationToken cancellationToken = default) =>
            inner.WaitAsync(predicate, cancellationToken);

        public IDisposable Subscribe(IObserver<LifecycleSnapshot> observer)
        {
            var subscription = inner.Subscribe(observer);
            Interlocked.Increment(ref _active);
            return new Unsubscribe(this, subscription);
        }

        private sealed class Unsubscribe(CountingLifecycle owner, IDisposable inner) : IDisposable
        {
            private int _done;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _done, 1) == 0)
                {
                    inner.Dispose();
                    Interlocked.Decrement(ref owner._active);
                }
            }
        }
    }
}
