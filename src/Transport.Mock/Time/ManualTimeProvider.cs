using System.Diagnostics;

namespace Transport.Mock;

/// <summary>
/// A <see cref="TimeProvider"/> whose clock moves only when a test says so. Timers fire inside
/// <see cref="Advance"/>, <see cref="AdvanceTo"/> and <see cref="SetUtcNow"/>, on the calling
/// thread, each at its own due instant.
/// </summary>
/// <remarks>
/// <para>
/// The documented clock is <c>Microsoft.Extensions.Time.Testing.FakeTimeProvider</c> (what
/// <see cref="MockHarness.Create"/> returns): the stack runs on it. Use this one only for what
/// FakeTimeProvider cannot do (pinned by <c>tests/Transport.Tests/Mock/FakeTimeProviderTests.cs</c>):
/// </para>
/// <list type="bullet">
/// <item>inspect armed timers: <see cref="ActiveTimerCount"/> (e.g. "no timer leaks after shutdown")
/// and <see cref="NextDueTime"/> (jump straight to the next due timer with <see cref="AdvanceTo"/>);</item>
/// <item>let a callback see its own due instant inside one long advance (T3; FakeTimeProvider
/// moves the clock to the end first, then fires every due timer at that instant);</item>
/// <item>defer a zero-due timer to the next advance (T6; FakeTimeProvider fires it inside
/// <c>CreateTimer</c>/<c>Change</c>, on the calling thread).</item>
/// </list>
/// <para>Invariants (proved by tests in <c>tests/Transport.Tests/Mock/ManualTimeProviderTests.cs</c>):</para>
/// <list type="bullet">
/// <item>Clock.T1: time never moves on its own and never moves backwards (<c>T1_time_moves_only_when_advanced</c>, <c>T1_moving_backwards_throws</c>).</item>
/// <item>Clock.T2: due timers fire in due-time order, ties in creation order (<c>T2_timers_fire_in_due_order_ties_in_creation_order</c>).</item>
/// <item>Clock.T3: inside a callback <see cref="GetUtcNow"/> equals that timer's due instant (<c>T3_callback_sees_its_due_instant_and_passes_state</c>).</item>
/// <item>Clock.T4: a periodic timer fires once per period inside one long advance (<c>T4_periodic_timer_fires_every_period_within_one_advance</c>).</item>
/// <item>Clock.T5: callbacks never run under the provider's lock, so a callback may create, change or
/// dispose timers and read the clock (<c>T5_callback_may_rearm_and_create_timers</c>).</item>
/// <item>Clock.T6: a timer due now (due time zero) does not fire inside <c>CreateTimer</c> or
/// <c>Change</c>; it fires at the next advance, even <c>Advance(TimeSpan.Zero)</c>
/// (<c>T6_zero_due_timer_fires_on_next_advance_not_inline</c>). A real timer never fires inline
/// either; deferring keeps "callbacks run only inside Advance" true.</item>
/// </list>
/// <para>
/// <c>Task.Delay(delay, provider)</c>, <c>new CancellationTokenSource(delay, provider)</c> and
/// <c>CancelAfter</c> all work: they go through <see cref="CreateTimer"/>.
/// </para>
/// </remarks>
public sealed class ManualTimeProvider : TimeProvider
{
    /// <summary>The default starting instant: 2026-01-01T00:00:00Z.</summary>
    public static readonly DateTimeOffset DefaultStart = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly Lock _gate = new();

    // Guarded by _gate: the clock, every live (not disposed) timer, and the creation counter.
    private DateTimeOffset _now;
    private readonly List<ManualTimer> _timers = [];
    private long _nextSequence;

    /// <summary>Creates a clock at <paramref name="start"/> (default <see cref="DefaultStart"/>).</summary>
    /// <param name="start">The starting instant; converted to UTC.</param>
    public ManualTimeProvider(DateTimeOffset? start = null)
    {
        _now = (start ?? DefaultStart).ToUniversalTime();
    }

    /// <summary>UTC: a manual clock has no local zone worth simulating.</summary>
    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    /// <summary><see cref="TimeSpan.TicksPerSecond"/>: timestamps are the clock's UTC ticks.</summary>
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>How many timers are armed (have a due time).</summary>
    public int ActiveTimerCount
    {
        get
        {
            lock (_gate)
            {
                return _timers.Count(t => t.DueAt is not null);
            }
        }
    }

    /// <summary>The earliest due instant of any armed timer; null when none is armed.</summary>
    public DateTimeOffset? NextDueTime
    {
        get
        {
            lock (_gate)
            {
                return FindNextDue(DateTimeOffset.MaxValue)?.DueAt;
            }
        }
    }

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
        {
            return _now;
        }
    }

    /// <summary>The clock's UTC ticks (see <see cref="TimestampFrequency"/>).</summary>
    /// <returns>A timestamp that advances exactly with the clock.</returns>
    public override long GetTimestamp()
    {
        lock (_gate)
        {
            return _now.UtcTicks;
        }
    }

    /// <inheritdoc />
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        ValidateSpan(dueTime, nameof(dueTime));
        ValidateSpan(period, nameof(period));
        lock (_gate)
        {
            var timer = new ManualTimer(this, callback, state, _nextSequence++);
            _timers.Add(timer);
            ArmLocked(timer, dueTime, period);
            return timer;
        }
    }

    /// <summary>Moves the clock forward by <paramref name="delta"/>, firing every timer that falls due.</summary>
    /// <param name="delta">How far to move; zero fires timers already due.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delta"/> is negative.</exception>
    public void Advance(TimeSpan delta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delta, TimeSpan.Zero);
        DateTimeOffset target;
        lock (_gate)
        {
            target = _now + delta;
        }

        AdvanceTo(target);
    }

    /// <summary>Moves the clock forward to <paramref name="target"/>, firing every timer that falls due.</summary>
    /// <param name="target">The new instant; must not be before the current one.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="target"/> is in the past.</exception>
    public void AdvanceTo(DateTimeOffset target)
    {
        target = target.ToUniversalTime();
        lock (_gate)
        {
            if (target < _now)
            {
                throw new ArgumentOutOfRangeException(nameof(target), $"The manual clock cannot move backwards (now {_now:O}, asked for {target:O}).");
            }
        }

        while (true)
        {
            TimerCallback callback;
            object? state;
            lock (_gate)
            {
                // Re-scan every step: a callback may have created, changed or disposed timers.
                var next = FindNextDue(target);
                if (next is null)
                {
                    // A nested advance (from inside a callback) may already have gone further.
                    if (target > _now)
                    {
                        _now = target;
                    }

                    return;
                }

                var due = next.DueAt!.Value;
                if (due > _now)
                {
                    _now = due;
                }

                // Re-arm (or disarm) before the callback runs so the callback may call Change.
                next.DueAt = next.Period > TimeSpan.Zero ? due + next.Period : null;
                callback = next.Callback;
                state = next.State;
            }

            // Outside the lock (Clock.T5): the callback may complete tasks whose continuations touch this clock.
            callback(state);
        }
    }

    /// <summary>Sets the clock to <paramref name="value"/>; same as <see cref="AdvanceTo"/> (the clock never moves backwards).</summary>
    /// <param name="value">The new instant.</param>
    public void SetUtcNow(DateTimeOffset value) => AdvanceTo(value);

    /// <summary>Describes the clock (instant and armed timers).</summary>
    public override string ToString()
    {
        lock (_gate)
        {
            return $"ManualTimeProvider({_now:O}, {_timers.Count(t => t.DueAt is not null)} armed)";
        }
    }

    /// <summary>Re-arms <paramref name="timer"/>; false when it was disposed.</summary>
    internal bool Change(ManualTimer timer, TimeSpan dueTime, TimeSpan period)
    {
        ValidateSpan(dueTime, nameof(dueTime));
        ValidateSpan(period, nameof(period));
        lock (_gate)
        {
            if (timer.IsDisposed)
            {
                return false;
            }

            ArmLocked(timer, dueTime, period);
            return true;
        }
    }

    /// <summary>Removes <paramref name="timer"/>; idempotent.</summary>
    internal void Remove(ManualTimer timer)
    {
        lock (_gate)
        {
            timer.IsDisposed = true;
            timer.DueAt = null;
            _timers.Remove(timer);
        }
    }

    private static void ValidateSpan(TimeSpan value, string name)
    {
        if (value < TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(name, value, "Must be non-negative or Timeout.InfiniteTimeSpan.");
        }
    }

    private void ArmLocked(ManualTimer timer, TimeSpan dueTime, TimeSpan period)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread, "Timers are armed under the lock.");

        // As with System.Threading.Timer, a period of zero or infinite means "fire once".
        timer.Period = period == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : period;
        timer.DueAt = dueTime == Timeout.InfiniteTimeSpan ? null : _now + dueTime;
    }

    private ManualTimer? FindNextDue(DateTimeOffset limit)
    {
        ManualTimer? best = null;
        foreach (var timer in _timers)
        {
            if (timer.DueAt is not { } due || due > limit)
            {
                continue;
            }

            // Ties go to the older timer: the list is in creation order, so strict '<' keeps the first.
            if (best is null || due < best.DueAt!.Value)
            {
                best = timer;
            }
        }

        return best;
    }
}
