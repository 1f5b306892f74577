namespace Transport.WebSockets.Reconnect;

/// <summary>
/// Caps connect attempts per sliding window (for example Binance: 300 connections per 5
/// minutes per IP). Polly's retry spaces attempts by backoff but has no notion of a budget
/// over a window, so this part is hand-written.
/// </summary>
/// <remarks>
/// Gate.G1 at most <c>max</c> attempts start within any window of length <c>window</c>
///    (test: R4_attempt_rate_cap_holds_during_a_storm).
/// Used only from the actor, one caller at a time: no locking.
/// </remarks>
internal sealed class AttemptRateGate
{
    private readonly int _max;
    private readonly TimeSpan _window;
    private readonly TimeProvider _time;

    // Start times of the attempts inside the current window, oldest first.
    private readonly Queue<DateTimeOffset> _starts = new();

    public AttemptRateGate(int max, TimeSpan window, TimeProvider time)
    {
        _max = max;
        _window = window;
        _time = time;
    }

    /// <summary>How long to wait before the next attempt may start (zero when it may start now).</summary>
    public TimeSpan DelayBeforeNextAttempt()
    {
        var now = _time.GetUtcNow();
        while (_starts.Count > 0 && now - _starts.Peek() >= _window)
        {
            _starts.Dequeue();
        }

        return _starts.Count < _max ? TimeSpan.Zero : _starts.Peek() + _window - now;
    }

    /// <summary>Waits for budget, then records an attempt starting now.</summary>
    public async ValueTask WaitAndRecordAsync(CancellationToken cancellationToken)
    {
        // Loop: the delay is computed from the oldest start, and the clock may have moved on.
        for (var delay = DelayBeforeNextAttempt(); delay > TimeSpan.Zero; delay = DelayBeforeNextAttempt())
        {
            await Task.Delay(delay, _time, cancellationToken);
        }

        _starts.Enqueue(_time.GetUtcNow());
    }
}
