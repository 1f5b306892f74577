using Transport.WebSockets.Liveness;

namespace Transport.Tests.Liveness;

public sealed class LivenessScheduleTests
{
    private static readonly TimeSpan Stale = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Dead = TimeSpan.FromSeconds(30);

    [Fact]
    public void Before_stale_wakes_when_stale_would_be_reached() =>
        Assert.Equal(TimeSpan.FromSeconds(3), LivenessSchedule.NextCheck(TimeSpan.FromSeconds(2), Stale, Dead, isStale: false));

    [Fact]
    public void While_stale_wakes_at_most_stale_after_now_or_at_dead()
    {
        Assert.Equal(Stale, LivenessSchedule.NextCheck(TimeSpan.FromSeconds(6), Stale, Dead, isStale: true));
        Assert.Equal(TimeSpan.FromSeconds(2), LivenessSchedule.NextCheck(TimeSpan.FromSeconds(28), Stale, Dead, isStale: true));
    }

    [Fact]
    public void Dead_only_and_stale_only()
    {
        Assert.Equal(TimeSpan.FromSeconds(20), LivenessSchedule.NextCheck(TimeSpan.FromSeconds(10), null, Dead, isStale: false));
        Assert.Equal(Stale, LivenessSchedule.NextCheck(TimeSpan.FromSeconds(10), Stale, null, isStale: true));
    }

    [Fact]
    public void Never_returns_a_non_positive_delay() =>
        Assert.True(LivenessSchedule.NextCheck(Dead, Stale, Dead, isStale: true) > TimeSpan.Zero);
}
