using Transport.Mock;

namespace Transport.Tests.Reconnect;

/// <summary>
/// A clock whose wall time (<see cref="GetUtcNow"/>) can be stepped, as NTP does, while its
/// monotonic time and timers are the manual clock's: what a correct component must not notice.
/// </summary>
internal sealed class SteppedWallClock(ManualTimeProvider monotonic) : TimeProvider
{
    private TimeSpan _step;

    public ManualTimeProvider Monotonic { get; } = monotonic;

    /// <summary>Moves wall time by <paramref name="step"/> (negative: backwards) without moving monotonic time.</summary>
    public void StepWallClock(TimeSpan step) => _step += step;

    public override DateTimeOffset GetUtcNow() => Monotonic.GetUtcNow() + _step;

    public override long GetTimestamp() => Monotonic.GetTimestamp();

    public override long TimestampFrequency => Monotonic.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => Monotonic.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        Monotonic.CreateTimer(callback, state, dueTime, period);
}
