using Transport.Mock;
using Transport.Tests.Buffering;
using Transport.WebSockets.Sending;

namespace Transport.Tests.Sending;

/// <summary>
/// Write.W3: the write watchdog of a connection that writes nothing has no timer and wakes for nothing
/// (issue 24: every idle connection woke once per WriteTimeout), and a write starting while it parks
/// is never missed. Manual clock and a pumped scheduler; the race test waits on conditions with a bound.
/// </summary>
public sealed class WriteWatchdogTests
{
    private static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    [Trait("Invariant", "Write.W3")]
    [Trait("Invariant", "Write.W1")]
    public void W3_an_idle_watch_parks_with_no_timer_and_the_next_write_wakes_it()
    {
        var time = new ManualTimeProvider();
        var pump = new PumpedTestScheduler();
        var watch = new WriteWatchdog(WriteTimeout, time);
        TransportException? stalled = null;
        using var end = new CancellationTokenSource();
        Task run = pump.Run(() => watch.RunAsync(e => stalled = e, end.Token));
        pump.RunUntilIdle();
        Assert.True(watch.IsParked);
        Assert.Equal(0, time.ActiveTimerCount);

        // An hour without a write: no timer fires, nothing runs.
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(0, pump.RunUntilIdle());
        Assert.Null(stalled);

        // A write starts and stalls: the watch wakes and reports it exactly WriteTimeout after the start (Write.W1).
        watch.Started();
        Assert.False(watch.IsParked);
        pump.RunUntilIdle();
        Assert.Equal(1, time.ActiveTimerCount);
        time.Advance(WriteTimeout - TimeSpan.FromTicks(1));
        pump.RunUntilIdle();
        Assert.Null(stalled);
        time.Advance(TimeSpan.FromTicks(1));
        pump.RunUntilIdle();
        Assert.NotNull(stalled);
        Assert.True(run.IsCompletedSuccessfully);
    }

    [Fact]
    [Trait("Invariant", "Write.W3")]
    public void W3_a_connection_that_keeps_writing_keeps_its_watch_on_the_clock_and_it_parks_after_a_quiet_timeout()
    {
        var time = new ManualTimeProvider();
        var pump = new PumpedTestScheduler();
        var watch = new WriteWatchdog(WriteTimeout, time);
        using var end = new CancellationTokenSource();
        watch.Started();
        watch.Completed();
        Task run = pump.Run(() => watch.RunAsync(_ => Assert.Fail("no write stalled"), end.Token));
        pump.RunUntilIdle();
        Assert.False(watch.IsParked); // wrote just now: it polls, as before (no wake-up per write)

        // A write every 5 s: never parked.
        for (int i = 0; i < 6; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            watch.Started();
            watch.Completed();
            pump.RunUntilIdle();
            Assert.False(watch.IsParked);
            Assert.Equal(1, time.ActiveTimerCount);
        }

        // Quiet for WriteTimeout: parked at the next check, no timer left.
        time.Advance(WriteTimeout);
        pump.RunUntilIdle();
        time.Advance(WriteTimeout);
        pump.RunUntilIdle();
        Assert.True(watch.IsParked);
        Assert.Equal(0, time.ActiveTimerCount);

        // Ending the session while parked ends the watch.
        end.Cancel();
        pump.RunUntilIdle();
        Assert.True(run.IsCompletedSuccessfully);
    }

    [Fact]
    [Trait("Invariant", "Write.W3")]
    public async Task W3_a_write_starting_while_the_watch_parks_is_never_missed()
    {
        // The watch parking on one thread and a write starting on another, 500 times: each time the
        // watch ends up awake with the write's stall timer armed, never parked over a write in flight.
        for (int i = 0; i < 500; i++)
        {
            var time = new ManualTimeProvider();
            var watch = new WriteWatchdog(WriteTimeout, time);
            using var end = new CancellationTokenSource();
            using var start = new Barrier(2);
            Task run = Task.Run(() =>
            {
                start.SignalAndWait(Bound);
                return watch.RunAsync(_ => { }, end.Token);
            });
            start.SignalAndWait(Bound);
            watch.Started();

            Assert.True(
                SpinWait.SpinUntil(() => !watch.IsParked && time.ActiveTimerCount == 1, Bound),
                $"iteration {i}: a write in flight, and the watch parked={watch.IsParked} with {time.ActiveTimerCount} timers");
            await end.CancelAsync();
            await run.WaitAsync(Bound);
        }
    }
}
