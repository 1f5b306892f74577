namespace Transport.WebSockets.Reconnect;

/// <summary>
/// Caps connect attempts per sliding window (Binance: 300 connections per 5 minutes per IP). One
/// gate is shared by every connection a connector builds (one named DI registration is one
/// connector), because venues count attempts per IP, not per socket.
/// </summary>
/// <remarks>
/// <para>
/// Why hand-written: Polly's retry spaces attempts but has no budget over a window, and
/// System.Threading.RateLimiting's sliding window replenishes on its own timer, outside the
/// injected <see cref="TimeProvider"/>, so a test could not step it.
/// </para>
/// <para>
/// Time is monotonic (<see cref="TimeProvider.GetTimestamp"/>): a wall-clock step (NTP moving
/// <c>GetUtcNow</c> back ten minutes) neither stalls the gate nor lets a burst through.
/// Thread-safe: connections of one connector run on different threads.
/// </para>
/// <list type="bullet">
/// <item>Gate.G1 at most <c>max</c> attempts start within any window of length <c>window</c>, across
/// every connection sharing the gate (R4_attempt_rate_cap_holds_during_a_storm, Gate_G1_connections_of_one_connector_share_the_cap, Gate_G1_concurrent_callers_never_exceed_the_cap).</item>
/// <item>Gate.G2 only monotonic time is read: a backward wall-clock step changes nothing (Gate_G2_wall_clock_jumping_back_does_not_stall_the_gate).</item>
/// </list>
/// </remarks>
internal sealed class AttemptRateGate
{
    private readonly int _max;
    private readonly TimeSpan _window;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();

    // Monotonic timestamps of the attempts inside the current window, oldest first. Guarded by _lock.
    private readonly Queue<long> _starts = new();

    public AttemptRateGate(int max, TimeSpan window, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        _max = max;
        _window = window;
        _time = time;
    }

    /// <summary>How long to wait before the next attempt may start (zero when it may start now).</summary>
    public TimeSpan DelayBeforeNextAttempt()
    {
        lock (_lock)
        {
            return DelayLocked();
        }
    }

    /// <summary>Waits for budget, then records an attempt starting now.</summary>
    public async ValueTask WaitAndRecordAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            TimeSpan delay;
            lock (_lock)
            {
                delay = DelayLocked();
                if (delay <= TimeSpan.Zero)
                {
                    // Checked and recorded under one lock: two connections cannot both take the last slot.
                    _starts.Enqueue(_time.GetTimestamp());
                    return;
                }
            }

            // Loop: another connection may take the freed slot first.
            await Task.Delay(delay, _time, cancellationToken);
        }
    }

    private TimeSpan DelayLocked()
    {
        while (_starts.Count > 0 && _time.GetElapsedTime(_starts.Peek()) >= _window)
        {
            _starts.Dequeue();
        }

        return _starts.Count < _max ? TimeSpan.Zero : _window - _time.GetElapsedTime(_starts.Peek());
    }
}
