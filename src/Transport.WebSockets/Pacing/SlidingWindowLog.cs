namespace Transport.WebSockets.Pacing;

/// <summary>
/// Pure sliding-log arithmetic for "at most N frames in any window of length T": the times of the
/// last N counted sends, in a ring, on monotonic timestamps. The pacer records write-end times and
/// gives it T = the venue's window plus the safety margin (<see cref="SendPacer"/>, Pacer.P4).
/// </summary>
/// <remarks>
/// <para>
/// Pacer.P1 a send is allowed at time t only if the N-th most recent counted send happened at or
///    before t - T. Hence for the send times t_1 &lt;= t_2 &lt;= ..., t_(i+N) - t_i &gt;= T for every i,
///    and no half-open window [s, s + T) contains more than N sends, whatever the schedule
///    (property test: P1_no_window_of_length_T_holds_more_than_N_sends_for_any_schedule).
/// Pacer.P2 the pacer never waits longer than Pacer.P1 requires: a send goes out at
///    max(ready, t_(i-N) + T) (same property test, which checks the exact send times).
/// Pacer.P3 only monotonic time is read (<see cref="TimeProvider.GetTimestamp"/>): a wall clock
///    stepped backwards cannot stall sends, one stepped forwards cannot release a burst
///    (test: P3_a_wall_clock_step_neither_stalls_nor_releases_sends).
/// </para>
/// Not thread-safe: the writer is its only user. Stored on one <c>long[N]</c>; nothing allocates per send.
/// </remarks>
internal sealed class SlidingWindowLog
{
    private readonly long[] _sends;
    private readonly TimeSpan _window;
    private readonly TimeProvider _time;
    private int _oldest;
    private int _count;

    public SlidingWindowLog(int maxFrames, TimeSpan window, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        _sends = new long[maxFrames];
        _window = window;
        _time = time;
    }

    /// <summary>The configured N.</summary>
    public int MaxFrames => _sends.Length;

    /// <summary>How long until one more send is allowed (zero: now).</summary>
    public TimeSpan UntilAllowed()
    {
        if (_count < _sends.Length)
        {
            return TimeSpan.Zero;
        }

        // The N-th most recent send must have left the window (Pacer.P1).
        var elapsed = _time.GetElapsedTime(_sends[_oldest]);
        return elapsed >= _window ? TimeSpan.Zero : _window - elapsed;
    }

    /// <summary>Records a counted send now. Call only when <see cref="UntilAllowed"/> is zero.</summary>
    public void Record()
    {
        var now = _time.GetTimestamp();
        if (_count < _sends.Length)
        {
            _sends[(_oldest + _count) % _sends.Length] = now;
            _count++;
            return;
        }

        // Full: the oldest entry is replaced by the newest and the next one becomes the oldest.
        _sends[_oldest] = now;
        _oldest = (_oldest + 1) % _sends.Length;
    }
}
