using Transport.Mock;

namespace Transport.Tests.Actor;

/// <summary>
/// ShutdownAsync's token bounds the caller's wait, not the shutdown (issue #13), and shutting down
/// a connection that already ended is quiet (item 7).
/// </summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task ShutdownAsync_token_bounds_the_callers_wait_while_the_close_handshake_hangs()
    {
        var h = ActorHarness.Start();
        h.Socket.CloseBehavior = CloseBehavior.Hang;

        using var cts = new CancellationTokenSource();
        var shutdown = h.Connection.Control.ShutdownAsync(cts.Token);
        h.Pump();
        Assert.False(shutdown.IsCompleted); // the close handshake holds the actor (bounded by CloseTimeout)

        cts.Cancel();

        // The caller is released (the cancellation is observed at the next pump; the mock's
        // external-wait guard then completes the caller's task)...
        h.Pump();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => shutdown.WaitAsync(TimeSpan.FromSeconds(30)));

        // ...and shutdown carries on in the background to Closed.
        h.AdvanceUntil(() => h.Now.IsTerminal, TimeSpan.FromMilliseconds(100), maxSteps: 100);
        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
        Assert.True(h.Connection.Lifecycle.Completion.IsCompletedSuccessfully);
        Assert.True(h.Connection.Control.ShutdownAsync().IsCompletedSuccessfully);
    }

    [Fact]
    public void ShutdownAsync_is_not_held_by_a_leaf_that_ignores_its_token()
    {
        // #13 item 4: the attempt is abandoned when shutdown cancels it; a late connection is disposed.
        var leaf = new IgnoresItsTokenLeaf();
        var h = ActorHarness.Start(builder: b => b.UseLeaf(leaf));
        Assert.Equal(1, leaf.Calls);

        var shutdown = h.Connection.Control.ShutdownAsync();
        h.Pump();
        Assert.True(shutdown.IsCompletedSuccessfully);
        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);

        var late = new MockSocket();
        leaf.Release(late);
        h.Pump();
        Assert.True(late.IsDisposed);
        Assert.Equal(1, leaf.Calls);
    }

    [Fact]
    public void ShutdownAsync_without_a_token_returns_the_same_completion()
    {
        var h = ActorHarness.Start();

        var first = h.Connection.Control.ShutdownAsync();
        h.Pump();

        Assert.True(first.IsCompletedSuccessfully);
        Assert.Same(first, h.Connection.Control.ShutdownAsync());
        Assert.Same(first, h.Connection.Control.ShutdownAsync(new CancellationTokenSource().Token)); // already stopped
    }

    [Fact]
    public async Task Item7_disposing_a_connection_that_ended_Unrecoverable_faults_nothing()
    {
        var (connector, clock, pumped) = MockHarness.Create();
        connector.FailNext(10, TransportException.HandshakeRejected(401));
        var spawner = new RecordingSpawner(pumped);
        var connection = new Transport.WebSockets.WebSocketTransportBuilder()
            .Configure(o => o.WithUri("ws://venue.test/ws").WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), useJitter: false).WithPermanentRetries(2))
            .UseLeaf(connector).WithTimeProvider(clock).WithSpawner(spawner)
            .Build().Start();
        for (var i = 0; i < 10 && !connection.Lifecycle.Current.IsTerminal; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            pumped.RunUntilIdle();
        }

        Assert.Equal(ConnectionPhase.Unrecoverable, connection.Lifecycle.Current.Phase);
        pumped.RunUntilIdle();
        var before = spawner.Tasks.Count;

        await connection.DisposeAsync();
        pumped.RunUntilIdle();

        Assert.All(spawner.Tasks, t => Assert.True(t.IsCompletedSuccessfully, $"A spawned task ended {t.Status}: {t.Exception?.InnerException?.GetType().Name}"));
        Assert.Equal(before, spawner.Tasks.Count); // nothing left to signal: the actor had stopped
        Assert.Equal(ConnectionPhase.Unrecoverable, connection.Lifecycle.Current.Phase);
    }

    /// <summary>A leaf whose connect ignores its token until the test releases it.</summary>
    private sealed class IgnoresItsTokenLeaf : ILeafConnector
    {
        private readonly TaskCompletionSource<ILeafConnection> _release = new();

        public int Calls { get; private set; }

        public void Release(ILeafConnection connection) => _release.SetResult(connection);

        public ValueTask<ILeafConnection> ConnectAsync(HandshakeRequest handshake, CancellationToken cancellationToken)
        {
            Calls++;
            return new ValueTask<ILeafConnection>(_release.Task);
        }
    }

    /// <summary>Records every task spawned through it, running them on the test's pumped spawner.</summary>
    private sealed class RecordingSpawner(ManualSpawner inner) : ISpawner
    {
        public List<Task> Tasks { get; } = [];

        public Task Spawn(Func<Task> work)
        {
            var task = inner.Spawn(work);
            Tasks.Add(task);
            return task;
        }
    }
}
