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
}
