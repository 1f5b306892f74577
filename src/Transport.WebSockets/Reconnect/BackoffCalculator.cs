namespace Transport.WebSockets.Reconnect;

/// <summary>
/// Pure delay arithmetic for reconnect retries: capped exponential growth from
/// <c>MinBackoff</c>, with optional "equal jitter" (half fixed, half random) so a fleet of
/// clients does not reconnect in lockstep while each one still backs off. Unit-tested alone;
/// the randomizer is injected so jittered delays are testable to the tick.
/// </summary>
internal sealed class BackoffCalculator
{
    private readonly TimeSpan _min;
    private readonly TimeSpan _max;
    private readonly bool _jitter;
    private readonly Func<double> _random;

    public BackoffCalculator(TimeSpan min, TimeSpan max, bool useJitter, Func<double> random)
    {
        _min = min;
        _max = max;
        _jitter = useJitter;
        _random = random;
    }

    /// <summary>The delay before retry number <paramref name="retry"/> (0 = the first retry).</summary>
    public TimeSpan DelayFor(int retry)
    {
        // Double arithmetic with an early cap: 2^retry overflows long ticks after ~60 retries.
        var exponential = _min.Ticks * Math.Pow(2, Math.Min(retry, 62));
        var capped = Math.Min(exponential, _max.Ticks);
        if (!_jitter)
        {
            return TimeSpan.FromTicks((long)capped);
        }

        var half = capped / 2;
        return TimeSpan.FromTicks((long)(half + (half * _random())));
    }
}
