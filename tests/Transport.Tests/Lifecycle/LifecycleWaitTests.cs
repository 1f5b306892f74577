using Microsoft.Extensions.Logging.Abstractions;
using Transport.Mock;
using Transport.Tests.Actor;
using Transport.WebSockets.Lifecycle;

namespace Transport.Tests.Lifecycle;

/// <summary>
/// Issue #13 item 3: <c>WaitAsync</c> predicates are user code. They run outside every lock and
/// off the actor's path; one that throws faults only its own wait.
/// </summary>
public sealed class LifecycleWaitTests
{
    [Fact]
    [Trait("Invariant", "Lifecycle.I4")]
    public async Task Item3_throwing_predicate_faults_only_its_own_wait_and_the_actor_carries_on()
    {
        var h = ActorHarness.Start();
        var bug = new InvalidOperationException("predicate bug");
        var throwing = h.Connection.Lifecycle.WaitAsync(s => s.Epoch >= 1 ? throw bug : false).AsTask();
        var healthy = h.Connection.Lifecycle.WaitForEpochAfterAsync(0).AsTask();

        h.Socket.Disconnect();
        h.Pump();

        Assert.Same(bug, await Assert.ThrowsAsync<InvalidOperationException>(() => throwing));
        Assert.Equal(1, (await healthy).Epoch);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);

        // The connection is unharmed: the next down-cycle is handled as usual.
        h.Socket.Disconnect();
        h.Pump();
        Assert.Equal(2, h.Now.Epoch);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
    }

    [Fact]
    [Trait("Invariant", "Lifecycle.I4")]
    public async Task Item3_predicate_that_throws_on_the_current_snapshot_faults_the_returned_wait()
    {
        var h = ActorHarness.Start();

        var wait = h.Connection.Lifecycle.WaitAsync(_ => throw new FormatException());

        Assert.True(wait.IsFaulted); // not thrown at the caller, not swallowed
        await Assert.ThrowsAsync<FormatException>(async () => await wait);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
    }

    [Fact]
    [Trait("Invariant", "Lifecycle.I4")]
    public async Task Item3_predicates_never_run_on_the_publisher_and_see_every_snapshot_in_order()
    {
        var spawner = new ManualSpawner();
        var publisher = new LifecyclePublisher(spawner, NullLogger.Instance);
        var seen = new List<long>();
        var wait = publisher.WaitAsync(s =>
        {
            seen.Add(s.Version);
            return s.Phase == ConnectionPhase.Reconnecting;
        });
        Assert.Equal([0L], seen); // the current snapshot, on the caller's thread

        publisher.Publish(s => s with { Phase = ConnectionPhase.Connected });
        publisher.Publish(s => s with { Phase = ConnectionPhase.Reconnecting });
        publisher.Publish(s => s with { Phase = ConnectionPhase.Resumed, Epoch = 1 });

        // Publishing ran no predicate: the actor's path never meets user code.
        Assert.Equal([0L], seen);
        Assert.False(wait.IsCompleted);

        spawner.RunUntilIdle();

        // Evaluated later, in version order, and the Reconnecting edge was not coalesced away.
        Assert.Equal([0L, 1L, 2L], seen);
        Assert.True(wait.IsCompletedSuccessfully);
        Assert.Equal(ConnectionPhase.Reconnecting, (await wait).Phase);
    }

    [Fact]
    [Trait("Invariant", "Lifecycle.I4")]
    public async Task Item3_waiter_that_never_matches_ends_with_Shutdown_at_the_terminal_snapshot()
    {
        var spawner = new ManualSpawner();
        var publisher = new LifecyclePublisher(spawner, NullLogger.Instance);
        var wait = publisher.WaitAsync(s => s.Epoch == 42).AsTask();

        publisher.Publish(s => s with { Phase = ConnectionPhase.Closed });
        spawner.RunUntilIdle();

        var error = await Assert.ThrowsAsync<TransportException>(() => wait);
        Assert.Equal(TransportErrorKind.Shutdown, error.Kind);
    }

    [Fact]
    [Trait("Invariant", "Lifecycle.I4")]
    public void Item3_cancelled_wait_is_retired_and_its_predicate_runs_no_more()
    {
        var spawner = new ManualSpawner();
        var publisher = new LifecyclePublisher(spawner, NullLogger.Instance);
        var calls = 0;
        using var cts = new CancellationTokenSource();
        var wait = publisher.WaitAsync(_ => ++calls < 0, cts.Token);

        cts.Cancel();
        publisher.Publish(s => s with { Phase = ConnectionPhase.Connected });
        spawner.RunUntilIdle();

        Assert.True(wait.IsCanceled);
        Assert.Equal(1, calls);
    }

    [Fact]
    [Trait("Invariant", "Lifecycle.I4")]
    public async Task Item3_blocked_predicate_does_not_delay_the_actor_or_other_waits()
    {
        // Real threads here: a genuinely blocked predicate on the thread-pool spawn.
        var (connector, _, _) = MockHarness.Create();
        var connection = new Transport.WebSockets.WebSocketTransportBuilder()
            .Configure(o => o.WithUri("ws://venue.test/ws").WithBackoff(TimeSpan.Zero, TimeSpan.Zero, false))
            .UseLeaf(connector)
            .Build()
            .Start();
        using var release = new ManualResetEventSlim();
        using var entered = new ManualResetEventSlim();
        try
        {
            await connection.Lifecycle.WaitForPhaseAsync(ConnectionPhase.Connected).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            var blocked = connection.Lifecycle.WaitAsync(s =>
            {
                if (s.Epoch >= 1)
                {
                    entered.Set();
                    release.Wait(TimeSpan.FromSeconds(30));
                }

                return false;
            }).AsTask();

            for (var epoch = 1; epoch <= 3; epoch++)
            {
                connector.Current!.Disconnect();
                var target = epoch;
                await connection.Lifecycle.WaitAsync(s => s.Epoch == target && s.IsUp).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            }

            Assert.True(entered.Wait(TimeSpan.FromSeconds(10)));
            Assert.Equal(3, connection.Lifecycle.Current.Epoch);
            Assert.False(blocked.IsCompleted);
        }
        finally
        {
            release.Set();
            await connection.DisposeAsync();
        }
    }
}
