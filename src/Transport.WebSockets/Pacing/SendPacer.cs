namespace Transport.WebSockets.Pacing;

/// <summary>
/// Paces everything the writer sends (pongs, control and data alike: venues count them
/// together) with a <see cref="TokenBucket"/> on the injected <see cref="TimeProvider"/>, so tests
/// advance a manual clock and watch frames leave at exactly the configured rate.
/// </summary>
/// <remarks>
/// I1 over any span of n whole periods at most Burst + n * PermitsPerPeriod frames leave
///    (tests: P1_hundred_queued_sends_leave_at_the_configured_rate, TokenBucketTests).
/// Used by the writer only, one caller at a time.
/// </remarks>
internal sealed class SendPacer
{
    private readonly TokenBucket _bucket;
    private readonly TimeProvider _time;

    public SendPacer(SendRateLimit limit, TimeProvider time)
    {
        _time = time;
        _bucket = new TokenBucket(limit.PermitsPerPeriod, limit.Period, limit.Burst, time);
    }

    /// <summary>Waits until a token is available and takes it.</summary>
    public async ValueTask AcquireAsync(CancellationToken cancellationToken)
    {
        while (!_bucket.TryTake())
        {
            await Task.Delay(_bucket.UntilNextToken(), _time, cancellationToken);
        }
    }

    /// <summary>Returns a token taken for a frame that then was not sent.</summary>
    public void Return() => _bucket.Return();
}
