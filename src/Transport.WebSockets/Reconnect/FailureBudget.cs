namespace Transport.WebSockets.Reconnect;

/// <summary>What the failure budget says after a failure was counted.</summary>
internal enum BudgetVerdict
{
    /// <summary>Keep trying: the next attempt waits the backoff for <see cref="FailureBudget.ConsecutiveFailures"/>.</summary>
    Continue,

    /// <summary>A Permanent failure outlived <c>PermanentRetries</c>: the terminal Unrecoverable phase.</summary>
    Unrecoverable,

    /// <summary>The voluntary <c>MaxAttempts</c> cap ran out: Closed with Exhausted.</summary>
    Exhausted,

    /// <summary>The session ended a finite stream (<see cref="FailureClass.Finished"/>): Closed, cleanly.</summary>
    Finished,
}

/// <summary>How the budget judged a session that went up, from its <see cref="SessionEndFacts"/> (Budget.B5).</summary>
internal enum SessionHealth
{
    /// <summary>Not healthy and no data delivered (accept-then-close): a failure for every count.</summary>
    Short,

    /// <summary>
    /// Not healthy, but it delivered data: a success for <c>MaxAttempts</c> (Budget.B6), a failure for
    /// the backoff exponent and the Permanent count (the no-hammering rules).
    /// </summary>
    Delivered,

    /// <summary>
    /// Not healthy, delivered data, then the transport was cut (no close frame from the venue: a reset, a
    /// FIN without a close, a liveness timeout). Classified Transient, it decays the consecutive-failure
    /// count by one instead of adding one (Budget.B7); a success for <c>MaxAttempts</c> (Budget.B6).
    /// Classified Permanent, it counts like <see cref="Delivered"/>.
    /// </summary>
    Cut,

    /// <summary>Healthy (Budget.B5): every count starts again and the next attempt is immediate.</summary>
    Healthy,
}

/// <summary>
/// The facts of one ended session that went up, as the policy measured them.
/// </summary>
/// <param name="Uptime">How long it was up (monotonic), from the connected attempt to its end.</param>
/// <param name="DeliveredData">Whether it delivered at least one data frame.</param>
/// <param name="PeerCloseCode">The code of the venue's close frame, when a close frame ended it; null for a cut, a timeout or a forced end.</param>
/// <param name="TransportCut">
/// Whether the transport failed under it without a close frame from the venue (kind <c>Connection</c> or
/// <c>Timeout</c>: a reset, a FIN without a close frame, a dead-after or keep-alive timeout, a stalled write);
/// false for a venue's close frame, a protocol or size violation, and a forced end.
/// </param>
internal readonly record struct SessionEndFacts(TimeSpan Uptime, bool DeliveredData, int? PeerCloseCode, bool TransportCut = false)
{
    /// <summary>Budget.B7: whether <paramref name="cause"/> is a cut of the transport rather than the venue's word.</summary>
    /// <param name="cause">The error that ended the session; null for a forced end.</param>
    public static bool IsTransportCut(TransportException? cause) =>
        cause is { Kind: TransportErrorKind.Connection or TransportErrorKind.Timeout };
}

/// <summary>
/// The breaker's arithmetic, pure (no time, no I/O, no Polly): whether an ended session was healthy,
/// what each failure does to the consecutive-failure, consecutive-Permanent and since-data counts, and
/// whether to continue, give up as Unrecoverable, stop as Exhausted or finish. It lives as long as the
/// connection, so the counts survive connect cycles: a session that was not healthy does not wipe them.
/// </summary>
/// <remarks>
/// <para>Invariants (table-driven in tests/Transport.Tests/Reconnect/FailureBudgetTests.cs):</para>
/// <list type="bullet">
/// <item>Budget.B1 only a healthy session (Budget.B5) resets the counts; any other session's end counts as
/// one more consecutive failure, for the Permanent count and the backoff exponent alike, except a cut after
/// data (Budget.B7) (Budget_B1_sessions_that_are_not_healthy_count_as_failures).</item>
/// <item>Budget.B2 Permanent failures in a row, attempts and sessions alike, end Unrecoverable after
/// exactly PermanentRetries retries; a Transient failure in between restarts the Permanent count
/// (Budget_B2_permanent_retries_then_unrecoverable).</item>
/// <item>Budget.B3 the next attempt is immediate exactly when the consecutive-failure count is zero
/// (after the first start and after a healthy session); otherwise it waits backoff(count - 1)
/// (Budget_B3_backoff_exponent_follows_the_count).</item>
/// <item>Budget.B4 a session classified Finished ends the connection whatever its health; Finished on
/// a failed attempt counts as Transient (Budget_B4_finished_ends_cleanly).</item>
/// <item>Budget.B5 a session is healthy, whatever its length, when it stayed up <c>StableAfter</c>;
/// or it delivered data and the venue closed it cleanly (1000, or 1001 going away; a 1000 classified
/// Finished ends the connection first, B4); or it stayed up the configured session lifetime less
/// <see cref="LifetimeTolerance"/>. Nothing else is: accept-then-close without data, an error close
/// code and a cut or timeout keep counting (B1) (Budget_B5_judge_table).</item>
/// <item>Budget.B6 MaxAttempts counts failures (failed attempts and sessions that were neither healthy
/// nor delivered data) since the last session that delivered data, or was healthy, or the start: a
/// session that delivered data is a success for it whatever ended it, so a feed that works between
/// faults is never Exhausted (Budget_B6_a_session_that_delivered_data_restarts_max_attempts).</item>
/// <item>Budget.B7 a session that went up, delivered data and was then cut (the transport failed without a
/// close frame from the venue) and is classified Transient decays the consecutive-failure count by one
/// (never below zero) instead of adding one: it neither resets the backoff nor grows it, so a feed that
/// delivers between faults stays near the minimum backoff (at zero, the next attempt is immediate, bounded by
/// the attempt-rate gate). It restarts the Permanent count (a Transient end) and MaxAttempts (B6). A venue's
/// error close code after data (1008, 1011, ...), accept-then-close without data, a refusal and a cut
/// classified Permanent still add one (Budget_B7_a_cut_after_data_decays_the_count, Budget_B7_judge_table
/// rows, Budget_B7_chaos_of_cuts_keeps_outages_near_the_minimum_backoff).</item>
/// </list>
/// </remarks>
internal sealed class FailureBudget
{
    /// <summary>The longest <see cref="LifetimeTolerance"/>: one minute.</summary>
    public static readonly TimeSpan MaxLifetimeTolerance = TimeSpan.FromMinutes(1);

    private readonly int _permanentRetries;
    private readonly int? _maxAttempts;
    private readonly TimeSpan _stableAfter;
    private readonly TimeSpan? _lifetime;

    /// <summary>Creates the budget.</summary>
    /// <param name="permanentRetries">Retries granted to Permanent failures in a row.</param>
    /// <param name="maxAttempts">The voluntary cap on failures since the last session that delivered data; null: none.</param>
    /// <param name="stableAfter">How long a session must stay up to be healthy by its length alone.</param>
    /// <param name="lifetime">The venue's session lifetime, if known.</param>
    public FailureBudget(int permanentRetries, int? maxAttempts, TimeSpan stableAfter = default, TimeSpan? lifetime = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(permanentRetries);
        if (maxAttempts is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxAttempts), maxAttempts, "Must be >= 1 when set.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(stableAfter, TimeSpan.Zero);
        if (lifetime is { } l && l <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), lifetime, "Must be positive when set.");
        }

        _permanentRetries = permanentRetries;
        _maxAttempts = maxAttempts;
        _stableAfter = stableAfter;
        _lifetime = lifetime;
    }

    /// <summary>Failed attempts and sessions that were not healthy since the last healthy session (or the start).</summary>
    public int ConsecutiveFailures { get; private set; }

    /// <summary>Permanent failures in a row (attempts and sessions alike).</summary>
    public int ConsecutivePermanent { get; private set; }

    /// <summary>
    /// Budget.B6: failed attempts and sessions that delivered no data (and were not healthy) since the
    /// last session that delivered data or was healthy (or the start); what <c>MaxAttempts</c> caps.
    /// </summary>
    public int FailuresSinceData { get; private set; }

    /// <summary>
    /// Budget.B3: null when the next attempt may start at once; otherwise the retry index to give
    /// the backoff (0 = the first retry's delay).
    /// </summary>
    public int? BackoffRetryIndex => ConsecutiveFailures == 0 ? null : ConsecutiveFailures - 1;

    /// <summary>
    /// How far short of its lifetime a session may end and still count as having reached it:
    /// <c>min(lifetime / 20, 1 minute)</c>. The venue starts its clock when it accepts the upgrade, a
    /// little before the transport's (which starts when the handshake returns), and venue timers are
    /// not exact; 5 % covers both for short test lifetimes (1 s of 20 s) and a minute is far above
    /// either for long ones (24 h), while still far below the lifetime itself.
    /// </summary>
    /// <param name="lifetime">The configured lifetime.</param>
    public static TimeSpan LifetimeTolerance(TimeSpan lifetime) =>
        lifetime / 20 < MaxLifetimeTolerance ? lifetime / 20 : MaxLifetimeTolerance;

    /// <summary>Budget.B5: whether the session a venue ended with this close code ended cleanly (1000 or 1001).</summary>
    /// <param name="peerCloseCode">The venue's close code; null when no close frame ended the session.</param>
    public static bool IsCleanClose(int? peerCloseCode) =>
        peerCloseCode is CloseCodes.NormalClosure or CloseCodes.GoingAway;

    /// <summary>Budget.B5: judges an ended session that went up.</summary>
    /// <param name="facts">What the policy measured.</param>
    public SessionHealth Judge(SessionEndFacts facts)
    {
        if (facts.Uptime >= _stableAfter)
        {
            return SessionHealth.Healthy;
        }

        if (_lifetime is { } lifetime && facts.Uptime >= lifetime - LifetimeTolerance(lifetime))
        {
            // It lived its full term: the venue's schedule ended it, not a rejection.
            return SessionHealth.Healthy;
        }

        if (!facts.DeliveredData)
        {
            return SessionHealth.Short;
        }

        if (IsCleanClose(facts.PeerCloseCode))
        {
            return SessionHealth.Healthy;
        }

        // Budget.B7: the path broke under a feed that worked; the venue said nothing against us.
        return facts.PeerCloseCode is null && facts.TransportCut ? SessionHealth.Cut : SessionHealth.Delivered;
    }

    /// <summary>A connect attempt failed with an error of class <paramref name="failureClass"/>.</summary>
    public BudgetVerdict AttemptFailed(FailureClass failureClass) =>
        CountFailure(failureClass == FailureClass.Permanent, countsForMaxAttempts: true);

    /// <summary>A connected session ended; judged by <see cref="Judge"/>.</summary>
    /// <param name="facts">What the policy measured.</param>
    /// <param name="failureClass">The class of the error that ended it; null when it ended without one (a forced reconnect).</param>
    public BudgetVerdict SessionEnded(SessionEndFacts facts, FailureClass? failureClass) =>
        SessionEnded(Judge(facts), failureClass);

    /// <summary>A connected session ended.</summary>
    /// <param name="health">How it was judged (Budget.B5).</param>
    /// <param name="failureClass">The class of the error that ended it; null when it ended without one (a forced reconnect).</param>
    public BudgetVerdict SessionEnded(SessionHealth health, FailureClass? failureClass)
    {
        if (failureClass == FailureClass.Finished)
        {
            return BudgetVerdict.Finished;
        }

        if (health == SessionHealth.Healthy)
        {
            // Budget.B1: a healthy session earns a fresh budget; a Permanent drop still counts once, so
            // PermanentRetries = 0 means "do not knock again" even after a long session.
            ConsecutiveFailures = 0;
            FailuresSinceData = 0;
            ConsecutivePermanent = failureClass == FailureClass.Permanent ? 1 : 0;
            return ConsecutivePermanent > _permanentRetries ? BudgetVerdict.Unrecoverable : BudgetVerdict.Continue;
        }

        if (health is SessionHealth.Delivered or SessionHealth.Cut)
        {
            // Budget.B6: data flowed, so MaxAttempts starts again; the backoff and the Permanent
            // count below still see the end (B1), or B7 decays it.
            FailuresSinceData = 0;
        }

        if (failureClass is null)
        {
            // A forced reconnect is a request, not a failure: it neither counts nor resets the backoff.
            return BudgetVerdict.Continue;
        }

        if (health == SessionHealth.Cut && failureClass == FailureClass.Transient)
        {
            // Budget.B7: one step down instead of one up; a Transient end restarts the Permanent count (B2).
            ConsecutiveFailures = ConsecutiveFailures > 0 ? ConsecutiveFailures - 1 : 0;
            ConsecutivePermanent = 0;
            return BudgetVerdict.Continue;
        }

        return CountFailure(failureClass == FailureClass.Permanent, countsForMaxAttempts: health == SessionHealth.Short);
    }

    private BudgetVerdict CountFailure(bool permanent, bool countsForMaxAttempts)
    {
        ConsecutiveFailures = ConsecutiveFailures == int.MaxValue ? int.MaxValue : ConsecutiveFailures + 1;
        if (countsForMaxAttempts)
        {
            FailuresSinceData = FailuresSinceData == int.MaxValue ? int.MaxValue : FailuresSinceData + 1;
        }

        if (permanent)
        {
            ConsecutivePermanent++;
            if (ConsecutivePermanent > _permanentRetries)
            {
                return BudgetVerdict.Unrecoverable;
            }
        }
        else
        {
            ConsecutivePermanent = 0;
        }

        return _maxAttempts is { } max && FailuresSinceData >= max ? BudgetVerdict.Exhausted : BudgetVerdict.Continue;
    }
}
