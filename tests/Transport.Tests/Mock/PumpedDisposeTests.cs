using Microsoft.Extensions.Time.Testing;
using Transport.Mock;
using Transport.WebSockets;

namespace Transport.Tests.Mock;

/// <summary>
/// Disposing a connection in a pumped test: the shutdown runs on the actor, so it needs the pump.
/// It either works (the test pumps while it waits) or fails fast saying to pump; it never hangs.
/// </summary>
public sealed class PumpedDisposeTests
{
    private static (ScriptedConnector Connector, FakeTimeProvider Clock, ManualSpawner Spawner, ReconnectingConnection Connection) Connected()
    {
        var (connector, clock, spawner) = MockHarness.Create();
        var connection = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri("ws://venue.test/ws"))
            .UseLeaf(connector).WithTimeProvider(clock).WithSpawner(spawner)
            .Build().Start();
        spawner.RunUntilIdle();
        Assert.Equal(ConnectionPhase.Connected, connection.Lifecycle.Current.Phase);
        return (connector, clock, spawner, connection);
    }

    [Fact]
    [Trait("Invariant", "Scheduler.S5")]
    [Trait("Invariant", "Spawner.S5")]
    public async Task S5_RunUntilCompleted_disposes_a_connection_under_the_pump()
    {
        var (connector, _, spawner, connection) = Connected();

        await spawner.RunUntilCompleted(connection.DisposeAsync());

        Assert.Equal(ConnectionPhase.Closed, connection.Lifecycle.Current.Phase);
        Assert.True(connector.Current!.IsDisposed);
    }

    [Fact]
    [Trait("Invariant", "Spawner.S5")]
    public async Task S5_dispose_then_pump_then_await_works()
    {
        var (_, _, spawner, connection) = Connected();

        var stop = connection.DisposeAsync();
        spawner.RunUntilIdle();
        await stop;

        Assert.Equal(ConnectionPhase.Closed, connection.Lifecycle.Current.Phase);
    }

    [Fact]
    [Trait("Invariant", "Spawner.S5")]
    public async Task S5_an_unpumped_dispose_fails_fast_saying_to_pump()
    {
        var (_, _, spawner, connection) = Connected();
        spawner.UnpumpedWaitTimeout = TimeSpan.FromMilliseconds(100);

        // The bound only keeps a regression from hanging the suite; the watchdog fires after 100 ms.
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => connection.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("nothing has pumped it", failure.Message);
        Assert.Contains("spawner.RunUntilCompleted(conn.DisposeAsync())", failure.Message);

        // The shutdown request itself is queued, not lost: pumping now completes it.
        spawner.RunUntilIdle();
        Assert.Equal(ConnectionPhase.Closed, connection.Lifecycle.Current.Phase);
    }

    [Fact]
    [Trait("Invariant", "Spawner.S5")]
    public void S5_RunUntilCompleted_says_when_the_task_waits_on_something_the_pump_cannot_run()
    {
        var spawner = new ManualSpawner();
        var never = new TaskCompletionSource();

        var failure = Record.Exception(() => { _ = spawner.RunUntilCompleted(never.Task); });

        Assert.IsType<InvalidOperationException>(failure);
        Assert.Contains("advance the clock", failure.Message);
    }

    [Fact]
    [Trait("Invariant", "Spawner.S5")]
    public void S5_a_wait_made_inside_pumped_work_is_not_guarded()
    {
        var spawner = new ManualSpawner();
        var inner = new TaskCompletionSource();
        Task? guarded = null;

        spawner.Spawn(() =>
        {
            guarded = spawner.GuardExternalWait(inner.Task, "test");
            return Task.CompletedTask;
        });
        spawner.RunUntilIdle();

        Assert.Same(inner.Task, guarded);
    }
}
