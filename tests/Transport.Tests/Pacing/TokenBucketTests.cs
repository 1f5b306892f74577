using Transport.Mock;
using Transport.WebSockets.Pacing;

namespace Transport.Tests.Pacing;

public sealed class TokenBucketTests
{
    [Fact]
    public void Starts_full_refills_per_whole_period_and_caps_at_the_burst()
    {
        var clock = new ManualTimeProvider();
        var bucket = new TokenBucket(permitsPerPeriod: 2, period: TimeSpan.FromSeconds(1), burst: 3, clock);

        Assert.Equal(3, Take(bucket));
        Assert.Equal(TimeSpan.FromSeconds(1), bucket.UntilNextToken());

        clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(0, Take(bucket));
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, Take(bucket));

        clock.Advance(TimeSpan.FromHours(1)); // a long idle spell refills to the burst, no more
        Assert.Equal(3, Take(bucket));
    }

    [Fact]
    public void Keeps_the_partial_period_between_refills()
    {
        var clock = new ManualTimeProvider();
        var bucket = new TokenBucket(1, TimeSpan.FromSeconds(1), 1, clock);
        Assert.Equal(1, Take(bucket));

        clock.Advance(TimeSpan.FromMilliseconds(1500)); // one refill at t=1s; the next is due at t=2s
        Assert.Equal(1, Take(bucket));
        Assert.Equal(TimeSpan.FromMilliseconds(500), bucket.UntilNextToken());
    }

    [Fact]
    public void I1_over_n_periods_at_most_burst_plus_n_times_rate_leave()
    {
        var clock = new ManualTimeProvider();
        var bucket = new TokenBucket(5, TimeSpan.FromSeconds(1), 5, clock);
        var taken = 0;
        for (var step = 0; step < 1000; step++)
        {
            taken += Take(bucket);
            clock.Advance(TimeSpan.FromMilliseconds(37));
        }

        var periods = (int)(TimeSpan.FromMilliseconds(37 * 1000).Ticks / TimeSpan.TicksPerSecond);
        Assert.InRange(taken, 5 * periods, 5 + (5 * periods));
    }

    [Fact]
    public void Returned_tokens_never_exceed_the_burst()
    {
        var bucket = new TokenBucket(1, TimeSpan.FromSeconds(1), 2, new ManualTimeProvider());
        bucket.Return();
        Assert.Equal(2, bucket.Available);
    }

    private static int Take(TokenBucket bucket)
    {
        var n = 0;
        while (bucket.TryTake())
        {
            n++;
        }

        return n;
    }
}
