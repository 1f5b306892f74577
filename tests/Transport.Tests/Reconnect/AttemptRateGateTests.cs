using Transport.Mock;
using Transport.WebSockets.Reconnect;

namespace Transport.Tests.Reconnect;

public sealed class AttemptRateGateTests
{
    [Fact]
    public async Task Allows_max_attempts_per_window_then_waits_for_the_oldest_to_leave()
    {
        var clock = new ManualTimeProvider();
        var gate = new AttemptRateGate(3, TimeSpan.FromSeconds(10), clock);

        for (var i = 0; i < 3; i++)
        {
            await gate.WaitAndRecordAsync(CancellationToken.None);
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        // Three attempts at t=0,1,2; the fourth may start at t=10.
        Assert.Equal(TimeSpan.FromSeconds(7), gate.DelayBeforeNextAttempt());
        var fourth = gate.WaitAndRecordAsync(CancellationToken.None).AsTask();
        clock.Advance(TimeSpan.FromSeconds(7) - TimeSpan.FromTicks(1));
        Assert.False(fourth.IsCompleted);
        clock.Advance(TimeSpan.FromTicks(1));
        await fourth.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(TimeSpan.FromSeconds(1), gate.DelayBeforeNextAttempt());
    }

    [Fact]
    public async Task Waiting_is_cancellable()
    {
        var clock = new ManualTimeProvider();
        var gate = new AttemptRateGate(1, TimeSpan.FromMinutes(5), clock);
        await gate.WaitAndRecordAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource();

        var waiting = gate.WaitAndRecordAsync(cts.Token).AsTask();
        cts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    [Trait("Invariant", "Gate.G2")]
    public async Task Gate_G2_wall_clock_jumping_back_does_not_stall_the_gate()
    {
        var clock = new SteppedWallClock(new ManualTimeProvider());
        var gate = new AttemptRateGate(2, TimeSpan.FromSeconds(10), clock);
        await gate.WaitAndRecordAsync(CancellationToken.None);
        await gate.WaitAndRecordAsync(CancellationToken.None);

        clock.StepWallClock(TimeSpan.FromMinutes(-10)); // NTP steps wall time back ten minutes
        Assert.Equal(TimeSpan.FromSeconds(10), gate.DelayBeforeNextAttempt());
        clock.Monotonic.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(TimeSpan.Zero, gate.DelayBeforeNextAttempt());

        clock.StepWallClock(TimeSpan.FromMinutes(20)); // and forward: no burst is let through either
        await gate.WaitAndRecordAsync(CancellationToken.None);
        await gate.WaitAndRecordAsync(CancellationToken.None);
        Assert.Equal(TimeSpan.FromSeconds(10), gate.DelayBeforeNextAttempt());
    }

    [Fact]
    [Trait("Invariant", "Gate.G1")]
    public async Task Gate_G1_concurrent_callers_never_exceed_the_cap()
    {
        var clock = new ManualTimeProvider();
        var gate = new AttemptRateGate(50, TimeSpan.FromMinutes(1), clock);
        var recorded = 0;
        var callers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                var attempt = gate.WaitAndRecordAsync(CancellationToken.None);
                if (!attempt.IsCompleted)
                {
                    return; // the cap is reached: this caller would wait for the window
                }

                await attempt;
                Interlocked.Increment(ref recorded);
            }
        })).ToArray();
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(50, recorded);
    }
}
