using Microsoft.Extensions.Logging.Abstractions;
using Transport.Mock;
using Transport.Nats.Failover;
using Transport.Nats.Feeds;

namespace Transport.Nats.Tests.Failover;

/// <summary>
/// The lease keeper itself (its timers and its reads and writes) on the manual clock, over an in-memory lease
/// store whose operations take no time: the takeover bound is checked as arithmetic on the clock, never timed.
/// </summary>
/// <remarks>
/// A <c>Task.Delay</c> on a manual clock resumes its awaiter on the thread pool, not inside <c>AdvanceTo</c>; so
/// after every step the test waits (bounded) until each keeper still running is parked on its next timer
/// before it reads the clock again.
/// </remarks>
public sealed class LeaseKeeperTests
{
    // The process tests' timings: renew 250 ms, fence 1 s, ttl 2 s, check 100 ms.
    private static readonly NatsLeaseOptions Options = new()
    {
        RenewInterval = TimeSpan.FromMilliseconds(250),
        FenceAfter = TimeSpan.FromSeconds(1),
        Ttl = TimeSpan.FromSeconds(2),
        CheckInterval = TimeSpan.FromMilliseconds(100),
    };

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    /// <summary>
    /// The active relay dies (its keeper stops: no renewal, no release) at many instants against many phases of
    /// the standby's reads: the standby holds the lease no later than TakeoverBound after the death, and no
    /// sooner than Ttl after the last renewal was written (Lease.L1).
    /// </summary>
    [Fact]
    [Trait("Invariant", "Lease.L4")]
    public async Task L4_standby_holds_the_lease_within_the_bound_after_the_active_dies()
    {
        var worst = TimeSpan.Zero;
        for (int phase = 0; phase < 10; phase++)
        {
            for (int death = 0; death < 25; death++)
            {
                var standbyStart = Ms(phase * 11);
                var diesAt = Ms(1_000 + (death * 23));
                var run = await RunAsync(standbyStart, diesAt, stall: false);
                var took = run.TakeoverAt - diesAt;
                Assert.True(took <= Options.TakeoverBound, $"standby from {standbyStart}, death at {diesAt}: took over {took} after it (bound {Options.TakeoverBound})");
                Assert.True(run.TakeoverAt - run.LastRenewalAt >= Options.Ttl, $"took over {run.TakeoverAt - run.LastRenewalAt} after the last renewal, less than the TTL");
                worst = took > worst ? took : worst;
            }
        }

        // The bound is not loose by more than a check interval (it is the arithmetic of the rule, not a guess).
        Assert.True(worst > Options.TakeoverBound - Options.CheckInterval, $"worst takeover {worst}, bound {Options.TakeoverBound}");
    }

    /// <summary>
    /// The active relay stalls (its renewals hang, as on a half-open link): it fences FenceAfter after its last
    /// successful renewal was sent, the standby holds the lease within TakeoverBound of the stall and at least
    /// CloseMargin after the fence (Lease.L3 with the keeper's own timers).
    /// </summary>
    [Fact]
    [Trait("Invariant", "Lease.L4")]
    public async Task L4_a_stalled_active_fences_before_the_standby_holds_the_lease_within_the_bound()
    {
        for (int phase = 0; phase < 10; phase++)
        {
            for (int stall = 0; stall < 10; stall++)
            {
                var stallsAt = Ms(1_000 + (stall * 37));
                var run = await RunAsync(Ms(phase * 17), stallsAt, stall: true);
                Assert.NotNull(run.FencedAt);
                Assert.True(run.TakeoverAt - stallsAt <= Options.TakeoverBound, $"stall at {stallsAt}: took over {run.TakeoverAt - stallsAt} after it");
                Assert.True(run.TakeoverAt - run.FencedAt!.Value >= Options.CloseMargin, $"took over {run.TakeoverAt - run.FencedAt} after the fence, less than the close margin");
            }
        }
    }

    private sealed record Run(TimeSpan TakeoverAt, TimeSpan LastRenewalAt, TimeSpan? FencedAt);

    private static async Task<Run> RunAsync(TimeSpan standbyStart, TimeSpan failsAt, bool stall)
    {
        var time = new ManualTimeProvider();
        var t0 = time.GetUtcNow();
        TimeSpan Now() => time.GetUtcNow() - t0;
        var store = new MemoryLeaseStore(Now);
        var a = new LeaseKeeper(store, "feed.lease", Options, "a", null, time, NullLogger.Instance);
        var grant = await a.AcquireAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)); // absent: created at once
        using var killA = new CancellationTokenSource();
        var holdA = a.HoldAsync(grant, killA.Token);

        Task<LeaseGrant>? acquireB = null;
        int Parked() => (holdA.IsCompleted ? 0 : 1) + (acquireB is null || acquireB.IsCompleted ? 0 : 1);
        async Task StepToAsync(DateTimeOffset target)
        {
            // Timer by timer, each keeper parked again before the next one fires.
            while (time.NextDueTime is { } due && due <= target)
            {
                time.AdvanceTo(due);
                await SettleAsync(time, Parked);
            }

            time.AdvanceTo(target);
            await SettleAsync(time, Parked);
        }

        await SettleAsync(time, Parked);
        await StepToAsync(t0 + standbyStart);
        var b = new LeaseKeeper(store, "feed.lease", Options, "b", null, time, NullLogger.Instance);
        using var stopB = new CancellationTokenSource();
        acquireB = b.AcquireAsync(stopB.Token);
        await SettleAsync(time, Parked);

        await StepToAsync(t0 + failsAt);
        Assert.False(acquireB.IsCompleted, "the standby took over a live lease");
        if (stall)
        {
            store.HangWritesOf = "a";
        }
        else
        {
            await killA.CancelAsync(); // kill -9: the keeper stops where it is
        }

        await SettleAsync(time, Parked);

        // Jump from timer to timer (every store operation completes at once) until the standby holds the lease.
        TimeSpan? fencedAt = null;
        var limit = t0 + failsAt + TimeSpan.FromMinutes(1);
        while (!acquireB.IsCompleted)
        {
            var due = time.NextDueTime;
            Assert.True(due is not null && due <= limit, $"the standby stopped trying before it held the lease at {Now()}: standby {acquireB.Status} {acquireB.Exception?.InnerException}, active {holdA.Status}, timers {time.ActiveTimerCount}, writes {string.Join(", ", store.Writes)}");
            time.AdvanceTo(due!.Value);
            await SettleAsync(time, Parked);
            if (fencedAt is null && stall && holdA.IsCompleted)
            {
                Assert.Equal(LeaseLoss.Expired, await holdA);
                fencedAt = Now();
            }
        }

        var takeoverGrant = await acquireB;
        Assert.Equal(grant.Generation + 1, takeoverGrant.Generation);
        var writes = store.Writes;
        var takeover = writes.Single(w => w.Holder == "b");
        var lastRenewal = writes.Where(w => w.Holder == "a").Max(w => w.At);
        await stopB.CancelAsync();
        await killA.CancelAsync();
        return new Run(takeover.At, lastRenewal, fencedAt);
    }

    /// <summary>Waits (bounded, never on a timer) until as many timers are armed as keepers still run: all parked.</summary>
    private static async Task SettleAsync(ManualTimeProvider time, Func<int> parked)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (time.ActiveTimerCount != parked())
        {
            Assert.False(bound.IsCancellationRequested, $"the keepers did not park: {time.ActiveTimerCount} timers armed, {parked()} keepers running");
            await Task.Yield();
        }
    }

    /// <summary>The lease key in memory: every operation completes at once; writes of one holder can be made to hang (a stalled link).</summary>
    private sealed class MemoryLeaseStore(Func<TimeSpan> now) : ILeaseStore
    {
        private readonly Lock _gate = new();
        private readonly List<(TimeSpan At, string Holder, ulong Revision)> _writes = [];
        private ulong _revision;
        private ulong _last;
        private byte[]? _value;

        public string? HangWritesOf { get; set; }

        public IReadOnlyList<(TimeSpan At, string Holder, ulong Revision)> Writes
        {
            get
            {
                lock (_gate)
                {
                    return [.. _writes];
                }
            }
        }

        public Task<LeaseEntry?> GetAsync(CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                return Task.FromResult(_revision == 0 ? (LeaseEntry?)null : new LeaseEntry(_revision, _value));
            }
        }

        public Task<ulong> CreateAsync(byte[] value, CancellationToken cancellationToken) => Write(value, null, cancellationToken);

        public Task<ulong> UpdateAsync(byte[] value, ulong revision, CancellationToken cancellationToken) => Write(value, revision, cancellationToken);

        private Task<ulong> Write(byte[] value, ulong? expected, CancellationToken cancellationToken)
        {
            var holder = FeedJsonContext.ReadLease(value)!.Holder;
            if (holder == HangWritesOf)
            {
                // Never answered; only its cancellation ends it.
                return new TaskCompletionSource<ulong>().Task.WaitAsync(cancellationToken);
            }

            lock (_gate)
            {
                if (expected is null ? _revision != 0 : _revision != expected)
                {
                    return Task.FromException<ulong>(new LeaseConflictException());
                }

                _revision = ++_last;
                _value = value;
                _writes.Add((now(), holder, _revision));
                return Task.FromResult(_revision);
            }
        }
    }
}
