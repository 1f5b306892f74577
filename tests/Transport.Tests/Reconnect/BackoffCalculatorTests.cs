using Transport.WebSockets.Reconnect;

namespace Transport.Tests.Reconnect;

public sealed class BackoffCalculatorTests
{
    [Fact]
    public void Without_jitter_delays_double_from_min_and_stop_at_the_cap()
    {
        var backoff = new BackoffCalculator(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(2), useJitter: false, () => 0.9);

        var delays = Enumerable.Range(0, 6).Select(backoff.DelayFor).ToArray();

        Assert.Equal(
            [250, 500, 1000, 2000, 2000, 2000],
            delays.Select(d => (int)d.TotalMilliseconds));
    }

    [Theory]
    [InlineData(0.0, 500)]
    [InlineData(0.5, 750)]
    [InlineData(0.999999, 1000)]
    public void Jitter_keeps_half_the_delay_and_randomizes_the_rest(double random, int expectedMs)
    {
        var backoff = new BackoffCalculator(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(30), useJitter: true, () => random);

        Assert.Equal(expectedMs, (int)Math.Round(backoff.DelayFor(2).TotalMilliseconds));
    }

    [Fact]
    public void Huge_retry_numbers_do_not_overflow()
    {
        var backoff = new BackoffCalculator(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1), useJitter: false, () => 0);

        Assert.Equal(TimeSpan.FromMinutes(1), backoff.DelayFor(int.MaxValue));
    }

    [Fact]
    public void Zero_min_backoff_means_immediate_retries()
    {
        var backoff = new BackoffCalculator(TimeSpan.Zero, TimeSpan.FromSeconds(1), useJitter: true, () => 0.7);

        Assert.Equal(TimeSpan.Zero, backoff.DelayFor(10));
    }
}
