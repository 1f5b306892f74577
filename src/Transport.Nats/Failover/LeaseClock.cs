namespace Transport.Nats.Failover;

// Invariants (each proven by the named test in tests/Transport.Nats.Tests/Failover/LeaseClockTests.cs):
//
// Lease.L1: A standby takes over only a lease that is absent, released, or that it has seen at the same
//     revision for Ttl (timed from when it first saw that revision); the takeover is a compare-and-set on
//     that revision, so a standby with a stale view fails it.
//     LeaseClockTests.L1_standby_takes_over_only_after_seeing_one_revision_for_the_ttl
// Lease.L2: The active relay must fence FenceAfter after sending its last renewal that succeeded; a renewal
//     that succeeds late never moves the deadline backwards.
//     LeaseClockTests.L2_active_fences_fence_after_its_last_successful_renewal_was_sent
// Lease.L3: For any delays of renewals and reads, a takeover happens at least Ttl - FenceAfter after the
//     active relay's fence deadline: the two venue connections never overlap if closing takes less than that.
//     LeaseClockTests.L3_takeover_never_precedes_the_fence_by_less_than_the_margin (randomized schedules)

/// <summary>
/// The lease's timing rules, pure: what a standby has seen and when it may take over, and when an active
/// relay must fence. Times are monotonic offsets (the relay's <see cref="TimeProvider"/>); no wall clock
/// is compared across machines (only their rates matter).
/// </summary>
internal sealed class LeaseClock
{
    private readonly TimeSpan _ttl;
    private readonly TimeSpan _fenceAfter;

    // Standby view: the revision last seen and since when it has been seen unchanged.
    private bool _present;
    private bool _released;
    private ulong _revision;
    private TimeSpan _seenSince;

    // Active side: the fence deadline.
    private TimeSpan _deadline;

    public LeaseClock(TimeSpan ttl, TimeSpan fenceAfter)
    {
        _ttl = ttl;
        _fenceAfter = fenceAfter;
    }

    /// <summary>The revision the standby's takeover must compare against.</summary>
    public ulong Revision => _revision;

    /// <summary>The active relay's fence deadline.</summary>
    public TimeSpan FenceDeadline => _deadline;

    /// <summary>Records a read of the lease key (absent: <paramref name="revision"/> 0).</summary>
    public void Observe(ulong revision, bool released, TimeSpan now)
    {
        if (revision == 0)
        {
            _present = false;
            _released = false;
            _revision = 0;
            return;
        }

        if (!_present || revision != _revision)
        {
            _present = true;
            _revision = revision;
            _seenSince = now;
        }

        _released = released;
    }

    /// <summary>Lease.L1.</summary>
    public bool MayTakeOver(TimeSpan now) => !_present || _released || now - _seenSince >= _ttl;

    /// <summary>When the current view would allow a takeover (now, for an absent or released lease).</summary>
    public TimeSpan TakeOverAt => !_present || _released ? TimeSpan.Zero : _seenSince + _ttl;

    /// <summary>The lease was acquired by a write sent at <paramref name="sentAt"/> (Lease.L2).</summary>
    public void Acquired(TimeSpan sentAt) => _deadline = sentAt + _fenceAfter;

    /// <summary>A renewal sent at <paramref name="sentAt"/> succeeded (Lease.L2: the deadline only moves forward).</summary>
    public void Renewed(TimeSpan sentAt)
    {
        var candidate = sentAt + _fenceAfter;
        if (candidate > _deadline)
        {
            _deadline = candidate;
        }
    }

    /// <summary>Lease.L2.</summary>
    public bool MustFence(TimeSpan now) => now >= _deadline;
}
