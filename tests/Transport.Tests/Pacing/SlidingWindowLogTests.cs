using CsCheck;
using Transport.Mock;
using Transport.WebSockets.Pacing;

namespace Transport.Tests.Pacing;

/// <summary>The venue's rule, "at most N frames in any window of length T", as pure arithmetic.</summary>
public sealed class SlidingWindowLogTests
{
    [Fact]
    [Trait("Invariant", "Pacer.P1")]
    [Trait("Invariant", "Pacer.P2")]
    public void P1_no_window_of_length_T_holds_more_than_N_sends_for_any_schedule()
    {
        // A schedule: N, T, and the gaps between the moments frames become ready (ticks; bursts
        // are runs of zero gaps). The writer sends each frame as soon as the log allows.
        var schedules = Gen.Select(
            Gen.Int[1, 12],
            Gen.Long[1, TimeSpan.TicksPerSecond * 3],
            Gen.Frequency(
                (3, Gen.Const(0L)),
                (2, Gen.Long[0, TimeSpan.TicksPerMillisecond * 50]),
                (1, Gen.Long[0, TimeSpan.TicksPerSecond * 4])).Array[1, 300]);

        schedules.Sample((n, windowTicks, gaps) =>
        {
            var window = TimeSpan.FromTicks(windowTicks);
            var clock = new ManualTimeProvider();
            var log = new SlidingWindowLog(n, window, clock);
            var sends = new List<long>();
            var ready = clock.GetTimestamp();
            foreach (var gap in gaps)
            {
                ready += gap;
                if (clock.GetTimestamp() < ready)
                {
                    clock.Advance(TimeSpan.FromTicks(ready - clock.GetTimestamp()));
                }

                for (var wait = log.UntilAllowed(); wait > TimeSpan.Zero; wait = log.UntilAllowed())
                {
                    clock.Advance(wait);
                }

                log.Record();
                var sent = clock.GetTimestamp();

                // P2: exactly when the rule allows, never later.
                var earliest = Math.Max(ready, sends.Count > 0 ? sends[^1] : ready);
                if (sends.Count >= n)
                {
                    earliest = Math.Max(earliest, sends[^n] + windowTicks);
                }

                Assert.Equal(earliest, sent);
                sends.Add(sent);
            }

            // P1: any N + 1 consecutive sends span at least T, so no window [s, s + T) holds N + 1.
            for (var i = 0; i + n < sends.Count; i++)
            {
                Assert.True(sends[i + n] - sends[i] >= windowTicks, $"Sends {i}..{i + n} span {sends[i + n] - sends[i]} ticks < T = {windowTicks}.");
            }

            // And counted directly, window by window (a window starting at a send is the worst case).
            for (var i = 0; i < sends.Count; i++)
            {
                var from = sends[i];
                var inWindow = sends.Count(t => t >= from && t < from + windowTicks);
                Assert.True(inWindow <= n, $"{inWindow} sends in the window starting at send {i} (N = {n}).");
            }
        }, iter: 2_000, threads: 1);
    }

    [Fact]
    [Trait("Invariant", "Pacer.P4")]
    public void P4_the_venue_never_counts_more_than_N_in_a_window_when_arrival_jitter_is_within_the_margin()
    {
        // The pacer's discipline: a frame starts when the log (window T + margin M) allows, its write
        // takes a while, and it is recorded when the write ends. The venue reads each frame at some
        // time between its write's start and M after its write's end (network and scheduling jitter).
        // Whatever the durations and the jitter, the venue's own rule (N in any window T) holds.
        var schedules = Gen.Select(
            Gen.Int[1, 8],
            Gen.Long[TimeSpan.TicksPerMillisecond, TimeSpan.TicksPerSecond * 2],
            Gen.Double[0, 0.5],
            Gen.Select(
                Gen.Frequency((3, Gen.Const(0L)), (1, Gen.Long[0, TimeSpan.TicksPerSecond])),
                Gen.Frequency((3, Gen.Long[0, TimeSpan.TicksPerMillisecond]), (1, Gen.Long[0, TimeSpan.TicksPerMillisecond * 200])),
                Gen.Double[0, 1]).Array[1, 120]);

        schedules.Sample((n, windowTicks, marginShare, frames) =>
        {
            var marginTicks = (long)(windowTicks * marginShare);
            var clock = new ManualTimeProvider();
            var log = new SlidingWindowLog(n, TimeSpan.FromTicks(windowTicks + marginTicks), clock);
            var arrivals = new List<long>();
            foreach (var (gap, writeTicks, jitter) in frames)
            {
                clock.Advance(TimeSpan.FromTicks(gap));
                for (var wait = log.UntilAllowed(); wait > TimeSpan.Zero; wait = log.UntilAllowed())
                {
                    clock.Advance(wait);
                }

                var started = clock.GetTimestamp();
                clock.Advance(TimeSpan.FromTicks(writeTicks)); // the write in flight
                log.Record();                                  // Pacer.P4: recorded when it ends
                var ended = clock.GetTimestamp();
                arrivals.Add(started + (long)((ended + marginTicks - started) * jitter));
            }

            arrivals.Sort();
            for (var i = 0; i < arrivals.Count; i++)
            {
                var inWindow = arrivals.Count(t => t >= arrivals[i] && t < arrivals[i] + windowTicks);
                Assert.True(inWindow <= n, $"{inWindow} arrivals in the venue window starting at arrival {i} (N = {n}, T = {windowTicks}, M = {marginTicks}).");
            }
        }, iter: 2_000, threads: 1);
    }

    [Fact]
    [Trait("Invariant", "Pacer.P4")]
    public async Task P4_the_pacer_spaces_by_window_plus_the_default_margin_from_the_end_of_each_write()
    {
        var clock = new ManualTimeProvider();
        var pacer = new SendPacer(new SendRateLimit { MaxFrames = 2, Window = TimeSpan.FromSeconds(1) }, clock);

        pacer.OnWriteEnded(FrameKind.Text);
        clock.Advance(TimeSpan.FromMilliseconds(30)); // the second write took 30 ms
        pacer.OnWriteEnded(FrameKind.Text);
        var third = pacer.WaitForRoomAsync(CancellationToken.None).AsTask();

        // 1 s + the default 200 ms margin after the first write ended, not after it started.
        clock.Advance(TimeSpan.FromMilliseconds(1_169));
        Assert.False(third.IsCompleted);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        await third.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData(1_000, 200)]
    [InlineData(100, 20)]
    [InlineData(500, 100)]
    [InlineData(60_000, 200)]
    public void The_default_margin_is_200_ms_or_a_fifth_of_a_shorter_window(int windowMs, int marginMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(marginMs), SendRateLimit.DefaultSafetyMargin(TimeSpan.FromMilliseconds(windowMs)));
        Assert.Equal(TimeSpan.FromMilliseconds(marginMs), new SendRateLimit { Window = TimeSpan.FromMilliseconds(windowMs) }.EffectiveSafetyMargin);
        Assert.Equal(TimeSpan.Zero, new SendRateLimit { Window = TimeSpan.FromMilliseconds(windowMs), SafetyMargin = TimeSpan.Zero }.EffectiveSafetyMargin);
    }

    [Fact]
    [Trait("Invariant", "Pacer.P1")]
    public void Item9_five_per_second_never_lets_ten_out_in_830_ms()
    {
        // The trace: a token bucket (5 per 1 s, burst 5) sent 10 frames in ~830 ms.
        var clock = new ManualTimeProvider();
        var log = new SlidingWindowLog(5, TimeSpan.FromSeconds(1), clock);
        var start = clock.GetTimestamp();
        clock.Advance(TimeSpan.FromMilliseconds(170));

        var sent = new List<TimeSpan>();
        for (var i = 0; i < 30; i++)
        {
            for (var wait = log.UntilAllowed(); wait > TimeSpan.Zero; wait = log.UntilAllowed())
            {
                clock.Advance(wait);
            }

            log.Record();
            sent.Add(clock.GetElapsedTime(start));
        }

        // Five leave at once, then five per whole second after the first.
        Assert.Equal(Enumerable.Range(0, 30).Select(i => TimeSpan.FromMilliseconds(170) + TimeSpan.FromSeconds(i / 5)), sent);
    }

    [Fact]
    [Trait("Invariant", "Pacer.P3")]
    public void P3_a_wall_clock_step_neither_stalls_nor_releases_sends()
    {
        var clock = new SteppedWallClock();
        var log = new SlidingWindowLog(2, TimeSpan.FromSeconds(1), clock);
        log.Record();
        log.Record();
        Assert.Equal(TimeSpan.FromSeconds(1), log.UntilAllowed());

        // The wall clock jumps back an hour (NTP, a VM resume): the monotonic window is untouched.
        clock.StepWallClock(TimeSpan.FromHours(-1));
        Assert.Equal(TimeSpan.FromSeconds(1), log.UntilAllowed());
        clock.Inner.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.Zero, log.UntilAllowed());
        log.Record();
        log.Record();

        // And forwards a day: no burst is released early.
        clock.StepWallClock(TimeSpan.FromDays(1));
        Assert.Equal(TimeSpan.FromSeconds(1), log.UntilAllowed());
    }

    [Fact]
    public void Below_N_sends_nothing_waits()
    {
        var clock = new ManualTimeProvider();
        var log = new SlidingWindowLog(3, TimeSpan.FromSeconds(1), clock);

        log.Record();
        log.Record();
        Assert.Equal(TimeSpan.Zero, log.UntilAllowed());
        log.Record();
        Assert.Equal(TimeSpan.FromSeconds(1), log.UntilAllowed());
        clock.Advance(TimeSpan.FromMilliseconds(400));
        Assert.Equal(TimeSpan.FromMilliseconds(600), log.UntilAllowed());
    }

    /// <summary>Monotonic time and timers from a manual clock; a wall clock that can step either way.</summary>
    private sealed class SteppedWallClock : TimeProvider
    {
        private TimeSpan _step;

        public ManualTimeProvider Inner { get; } = new();

        public override long TimestampFrequency => Inner.TimestampFrequency;

        public void StepWallClock(TimeSpan step) => _step += step;

        public override DateTimeOffset GetUtcNow() => Inner.GetUtcNow() + _step;

        public override long GetTimestamp() => Inner.GetTimestamp();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            Inner.CreateTimer(callback, state, dueTime, period);
    }
}
