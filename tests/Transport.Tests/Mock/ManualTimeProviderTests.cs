using Transport.Mock;

namespace Transport.Tests.Mock;

public sealed class ManualTimeProviderTests
{
    private static readonly DateTimeOffset Start = ManualTimeProvider.DefaultStart;

    [Fact]
    [Trait("Invariant", "Clock.T1")]
    public void T1_time_moves_only_when_advanced()
    {
        var clock = new ManualTimeProvider();
        var stamp = clock.GetTimestamp();

        Assert.Equal(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), clock.GetUtcNow());
        Assert.Equal(TimeZoneInfo.Utc, clock.LocalTimeZone);
        Assert.Equal(clock.GetUtcNow(), clock.GetUtcNow());

        clock.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal(Start.AddSeconds(5), clock.GetUtcNow());
        Assert.Equal(TimeSpan.FromSeconds(5), clock.GetElapsedTime(stamp));
        Assert.Equal(TimeSpan.TicksPerSecond, clock.TimestampFrequency);

        clock.AdvanceTo(Start.AddMinutes(1));
        clock.SetUtcNow(Start.AddHours(1));
        Assert.Equal(Start.AddHours(1), clock.GetUtcNow());
        Assert.Equal(TimeSpan.FromHours(1), clock.GetElapsedTime(stamp));
    }

    [Fact]
    [Trait("Invariant", "Clock.T1")]
    public void T1_starts_at_the_given_instant_in_utc()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2030, 6, 1, 12, 0, 0, TimeSpan.FromHours(2)));

        Assert.Equal(new DateTimeOffset(2030, 6, 1, 10, 0, 0, TimeSpan.Zero), clock.GetUtcNow());
        Assert.Equal(TimeSpan.Zero, clock.GetUtcNow().Offset);
    }

    [Fact]
    [Trait("Invariant", "Clock.T1")]
    public void T1_moving_backwards_throws()
    {
        var clock = new ManualTimeProvider();
        clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Throws<ArgumentOutOfRangeException>(() => clock.Advance(TimeSpan.FromTicks(-1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => clock.AdvanceTo(Start));
        Assert.Throws<ArgumentOutOfRangeException>(() => clock.SetUtcNow(Start.AddSeconds(9)));
        Assert.Equal(Start.AddSeconds(10), clock.GetUtcNow());
    }

    [Fact]
    [Trait("Invariant", "Clock.T2")]
    public void T2_timers_fire_in_due_order_ties_in_creation_order()
    {
        var clock = new ManualTimeProvider();
        var fired = new List<string>();
        using var a = clock.CreateTimer(_ => fired.Add("a@3s"), null, TimeSpan.FromSeconds(3), Timeout.InfiniteTimeSpan);
        using var b = clock.CreateTimer(_ => fired.Add("b@1s"), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        using var c = clock.CreateTimer(_ => fired.Add("c@2s"), null, TimeSpan.FromSeconds(2), Timeout.InfiniteTimeSpan);
        using var d = clock.CreateTimer(_ => fired.Add("d@1s"), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);

        Assert.Equal(4, clock.ActiveTimerCount);
        Assert.Equal(Start.AddSeconds(1), clock.NextDueTime);

        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(["b@1s", "d@1s", "c@2s"], fired);

        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(["b@1s", "d@1s", "c@2s", "a@3s"], fired);
        Assert.Equal(0, clock.ActiveTimerCount);
        Assert.Null(clock.NextDueTime);
    }

    [Fact]
    [Trait("Invariant", "Clock.T3")]
    public void T3_callback_sees_its_due_instant_and_passes_state()
    {
        var clock = new ManualTimeProvider();
        var seen = new List<(object? State, DateTimeOffset Now)>();
        using var first = clock.CreateTimer(s => seen.Add((s, clock.GetUtcNow())), "first", TimeSpan.FromMilliseconds(1500), Timeout.InfiniteTimeSpan);
        using var second = clock.CreateTimer(s => seen.Add((s, clock.GetUtcNow())), "second", TimeSpan.FromSeconds(4), Timeout.InfiniteTimeSpan);

        clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal([("first", Start.AddMilliseconds(1500)), ("second", Start.AddSeconds(4))], seen);
        Assert.Equal(Start.AddSeconds(10), clock.GetUtcNow());
    }

    [Fact]
    [Trait("Invariant", "Clock.T4")]
    public void T4_periodic_timer_fires_every_period_within_one_advance()
    {
        var clock = new ManualTimeProvider();
        var fired = new List<string>();
        using var periodic = clock.CreateTimer(_ => fired.Add($"p@{(clock.GetUtcNow() - Start).TotalSeconds}"), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
        using var once = clock.CreateTimer(_ => fired.Add($"o@{(clock.GetUtcNow() - Start).TotalSeconds}"), null, TimeSpan.FromSeconds(4), TimeSpan.Zero);

        clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(["p@1", "p@3", "o@4", "p@5"], fired);
        Assert.Equal(Start.AddSeconds(7), clock.NextDueTime);

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["p@1", "p@3", "o@4", "p@5", "p@7"], fired);
        Assert.Equal(1, clock.ActiveTimerCount);
    }

    [Fact]
    [Trait("Invariant", "Clock.T5")]
    public void T5_callback_may_rearm_and_create_timers()
    {
        var clock = new ManualTimeProvider();
        var fired = new List<double>();
        ITimer? child = null;
        using var parent = clock.CreateTimer(
            _ =>
            {
                fired.Add((clock.GetUtcNow() - Start).TotalSeconds);

                // Created from inside a callback, due inside the same advance: it fires in this advance too.
                child = clock.CreateTimer(_ => fired.Add((clock.GetUtcNow() - Start).TotalSeconds), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
            },
            null,
            TimeSpan.FromSeconds(1),
            Timeout.InfiniteTimeSpan);

        clock.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal([1d, 2d], fired);
        child?.Dispose();
    }

    [Fact]
    [Trait("Invariant", "Clock.T5")]
    public void T5_callback_can_change_its_own_periodic_timer()
    {
        var clock = new ManualTimeProvider();
        var fired = new List<double>();
        ITimer timer = null!;
        timer = clock.CreateTimer(
            _ =>
            {
                fired.Add((clock.GetUtcNow() - Start).TotalSeconds);
                if (fired.Count == 2)
                {
                    timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                }
            },
            null,
            TimeSpan.FromSeconds(1),
            TimeSpan.FromSeconds(1));

        clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal([1d, 2d], fired);
        Assert.Equal(0, clock.ActiveTimerCount);
        timer.Dispose();
    }

    [Fact]
    [Trait("Invariant", "Clock.T6")]
    public void T6_zero_due_timer_fires_on_next_advance_not_inline()
    {
        var clock = new ManualTimeProvider();
        var fired = 0;

        using var timer = clock.CreateTimer(_ => fired++, null, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        Assert.Equal(0, fired);
        Assert.Equal(Start, clock.NextDueTime);

        clock.Advance(TimeSpan.Zero);
        Assert.Equal(1, fired);

        timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        Assert.Equal(1, fired);
        clock.Advance(TimeSpan.Zero);
        Assert.Equal(2, fired);
        Assert.Equal(Start, clock.GetUtcNow());
    }

    [Fact]
    public void Change_rearms_from_now_and_dispose_stops_the_timer()
    {
        var clock = new ManualTimeProvider();
        var fired = new List<double>();
        var timer = clock.CreateTimer(_ => fired.Add((clock.GetUtcNow() - Start).TotalSeconds), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);

        clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.True(timer.Change(TimeSpan.FromSeconds(2), Timeout.InfiniteTimeSpan));
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal([2.5], fired);

        Assert.True(timer.Change(TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan));
        timer.Dispose();
        Assert.Equal(0, clock.ActiveTimerCount);
        Assert.False(timer.Change(TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan));
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal([2.5], fired);
    }

    [Fact]
    public async Task DisposeAsync_stops_the_timer()
    {
        var clock = new ManualTimeProvider();
        var fired = 0;
        var timer = clock.CreateTimer(_ => fired++, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        await timer.DisposeAsync();
        clock.Advance(TimeSpan.FromSeconds(3));

        Assert.Equal(0, fired);
        Assert.Equal(0, clock.ActiveTimerCount);
    }

    [Fact]
    public void Invalid_spans_are_rejected()
    {
        var clock = new ManualTimeProvider();

        Assert.Throws<ArgumentOutOfRangeException>(() => clock.CreateTimer(_ => { }, null, TimeSpan.FromSeconds(-2), Timeout.InfiniteTimeSpan));
        Assert.Throws<ArgumentOutOfRangeException>(() => clock.CreateTimer(_ => { }, null, TimeSpan.Zero, TimeSpan.FromSeconds(-2)));
        Assert.Throws<ArgumentNullException>(() => clock.CreateTimer(null!, null, TimeSpan.Zero, TimeSpan.Zero));
    }

    [Fact]
    public void Task_Delay_completes_exactly_when_the_clock_reaches_its_due_time()
    {
        var clock = new ManualTimeProvider();

        var delay = Task.Delay(TimeSpan.FromSeconds(10), clock);
        Assert.False(delay.IsCompleted);
        Assert.Equal(1, clock.ActiveTimerCount);

        clock.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(1));
        Assert.False(delay.IsCompleted);

        clock.Advance(TimeSpan.FromTicks(1));
        Assert.True(delay.IsCompletedSuccessfully);
        Assert.Equal(0, clock.ActiveTimerCount);
    }

    [Fact]
    public void Task_Delay_cancelled_by_its_token_releases_the_timer()
    {
        var clock = new ManualTimeProvider();
        using var cts = new CancellationTokenSource();

        var delay = Task.Delay(TimeSpan.FromSeconds(10), clock, cts.Token);
        cts.Cancel();

        Assert.True(delay.IsCanceled);
        Assert.Equal(0, clock.ActiveTimerCount);
    }

    [Fact]
    public void CancellationTokenSource_with_the_clock_cancels_at_its_delay()
    {
        var clock = new ManualTimeProvider();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5), clock);

        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.False(cts.IsCancellationRequested);

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(cts.IsCancellationRequested);
    }

    [Fact]
    public void CancelAfter_reschedules_on_the_clock()
    {
        var clock = new ManualTimeProvider();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5), clock);

        clock.Advance(TimeSpan.FromSeconds(4));
        cts.CancelAfter(TimeSpan.FromSeconds(5));
        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.False(cts.IsCancellationRequested);

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(cts.IsCancellationRequested);
        Assert.Equal(Start.AddSeconds(9), clock.GetUtcNow());
    }
}
