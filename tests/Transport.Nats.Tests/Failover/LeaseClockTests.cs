using Transport.Nats.Failover;

namespace Transport.Nats.Tests.Failover;

public sealed class LeaseClockTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FenceAfter = TimeSpan.FromSeconds(2.5);

    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    [Trait("Invariant", "Lease.L1")]
    public void L1_standby_takes_over_only_after_seeing_one_revision_for_the_ttl()
    {
        var clock = new LeaseClock(Ttl, FenceAfter);
        clock.Observe(0, released: false, S(0));
        Assert.True(clock.MayTakeOver(S(0))); // absent: create it

        clock.Observe(7, released: false, S(1));
        Assert.False(clock.MayTakeOver(S(5.9)));
        clock.Observe(8, released: false, S(5.9)); // renewed: the wait starts again
        Assert.False(clock.MayTakeOver(S(10.8)));
        clock.Observe(8, released: false, S(10.8)); // same revision seen again: still timed from 5.9
        Assert.True(clock.MayTakeOver(S(10.9)));
        Assert.Equal(8UL, clock.Revision);

        clock.Observe(9, released: true, S(11));
        Assert.True(clock.MayTakeOver(S(11))); // released: at once
    }

    [Fact]
    [Trait("Invariant", "Lease.L2")]
    public void L2_active_fences_fence_after_its_last_successful_renewal_was_sent()
    {
        var clock = new LeaseClock(Ttl, FenceAfter);
        clock.Acquired(S(10));
        Assert.False(clock.MustFence(S(12.4)));
        Assert.True(clock.MustFence(S(12.5)));
        clock.Renewed(S(12)); // sent at 12, succeeded whenever
        Assert.Equal(S(14.5), clock.FenceDeadline);
        clock.Renewed(S(11)); // a slow renewal sent earlier succeeding late never moves the deadline back
        Assert.Equal(S(14.5), clock.FenceDeadline);
    }

    /// <summary>
    /// Random schedules of one active and one standby: renewals are sent every RenewInterval, each takes a
    /// random time to be written (or is lost), the standby polls at random offsets and sees writes late. The
    /// active fences at its deadline; the standby takes over when its rule allows. In every schedule the
    /// takeover comes at least Ttl - FenceAfter after the fence.
    /// </summary>
    [Fact]
    [Trait("Invariant", "Lease.L3")]
    public void L3_takeover_never_precedes_the_fence_by_less_than_the_margin()
    {
        var random = new Random(17);
        var renew = S(0.5);
        var check = S(0.25);
        for (int run = 0; run < 2_000; run++)
        {
            var active = new LeaseClock(Ttl, FenceAfter);
            var standby = new LeaseClock(Ttl, FenceAfter);
            active.Acquired(S(0));
            var writes = new List<(TimeSpan WrittenAt, ulong Revision)> { (S(0.01), 1) };
            ulong revision = 1;
            var dieAt = S(random.NextDouble() * 20);
            for (var sent = renew; sent < dieAt && !active.MustFence(sent); sent += renew)
            {
                if (random.NextDouble() < 0.3)
                {
                    continue; // lost: never written
                }

                var delay = S(random.NextDouble() * 3);
                var writtenAt = sent + delay;
                writes.Add((writtenAt, ++revision));
                var ackedAt = writtenAt + S(random.NextDouble() * 0.5);
                if (ackedAt < sent + FenceAfter + S(10))
                {
                    active.Renewed(sent);
                }
            }

            var fencedAt = active.FenceDeadline;
            TimeSpan? takeoverAt = null;
            for (var t = S(random.NextDouble() * 0.25); t < S(60); t += check)
            {
                // The standby sees the newest write older than its (late) read.
                var lag = S(random.NextDouble() * 0.2);
                var visible = writes.Where(w => w.WrittenAt <= t - lag).Select(w => w.Revision).DefaultIfEmpty(0UL).Max();
                standby.Observe(visible, released: false, t);
                if (standby.MayTakeOver(t) && visible == writes.Max(w => w.Revision))
                {
                    takeoverAt = t;
                    break;
                }
            }

            Assert.NotNull(takeoverAt);
            Assert.True(
                takeoverAt.Value >= fencedAt + (Ttl - FenceAfter),
                $"run {run}: the active fences at {fencedAt}, the standby took over at {takeoverAt}: less than Ttl - FenceAfter ({Ttl - FenceAfter}) after it");
        }
    }
}
