namespace Transport.WebSockets.Pacing;

/// <summary>
/// Pure token-bucket arithmetic on an injected clock: <c>permitsPerPeriod</c> tokens are added at
/// the end of each whole period since the last refill, up to <c>burst</c>.
/// </summary>
/// <remarks>
/// Hand-written because System.Threading.RateLimiting's <c>TokenBucketRateLimiter</c> reads
/// <c>Stopwatch</c> inside <c>TryReplenish()</c> even with <c>AutoReplenishment = false</c> (checked on
/// 10.0.14: a replenish right after draining adds nothing), so it cannot be driven by a
/// <see cref="TimeProvider"/> and a manual clock could not prove the rate.
/// Not thread-safe: the writer is its only user.
/// </remarks>
internal sealed class TokenBucket
{
    private readonly int _permitsPerPeriod;
    private readonly int _burst;
    private readonly TimeSpan _period;
    private readonly TimeProvider _time;
    private long _tokens;
    private DateTimeOffset _periodStart;

    public TokenBucket(int permitsPerPeriod, TimeSpan period, int burst, TimeProvider time)
    {
        _permitsPerPeriod = permitsPerPeriod;
        _period = period;
        _burst = burst;
        _time = time;
        _tokens = burst;
        _periodStart = time.GetUtcNow();
    }

    public long Available
    {
        get
        {
            Refill();
            return _tokens;
        }
    }

    /// <summary>Takes a token if one is available.</summary>
    public bool TryTake()
    {
        Refill();
        if (_tokens == 0)
        {
            return false;
        }

        _tokens--;
        return true;
    }

    /// <summary>Gives back a token taken for a frame that then was not sent.</summary>
    public void Return() => _tokens = Math.Min(_burst, _tokens + 1);

    /// <summary>How long until the next refill (zero when tokens are available).</summary>
    public TimeSpan UntilNextToken()
    {
        Refill();
        return _tokens > 0 ? TimeSpan.Zero : _periodStart + _period - _time.GetUtcNow();
    }

    private void Refill()
    {
        var now = _time.GetUtcNow();
        var periods = (now - _periodStart).Ticks / _period.Ticks;
        if (periods <= 0)
        {
            return;
        }

        // Keep the partial period: the next refill comes a whole period after this one was due.
        _periodStart += TimeSpan.FromTicks(_period.Ticks * periods);
        _tokens = (long)Math.Min(_burst, _tokens + ((double)periods * _permitsPerPeriod));
    }
}
