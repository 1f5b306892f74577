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

/// <summary>
/// The breaker's arithmetic, pure (no time, no I/O, no Polly): what each failure does to the
/// consecutive-failure and consecutive-Permanent counts, and whether to continue, give up as
/// Unrecoverable, stop as Exhausted or finish. It lives as long as the connection, so the counts
/// survive connect cycles: a session that was not healthy does not wipe them.
/// </summary>
/// <remarks>
/// <para>Invariants (table-driven in tests/Transport.Tests/Reconnect/FailureBudgetTests.cs):</para>
/// <list type="bullet">
/// <item>Budget.B1 only a healthy session (up for <c>StableAfter</c>) resets the counts; a shorter
/// session's end counts as one more consecutive failure, for the Permanent count and the backoff
/// exponent alike (Budget_B1_short_sessions_count_as_failures).</item>
/// <item>Budget.B2 Permanent failures in a row, attempts and short sessions alike, end Unrecoverable
/// after exactly PermanentRetries retries; a Transient failure in between restarts the Permanent
/// count (Budget_B2_permanent_retries_then_unrecoverable).</item>
/// <item>Budget.B3 the next attempt is immediate exactly when the consecutive-failure count is zero
/// (after the first start and after a healthy session); otherwise it waits backoff(count - 1)
/// (Budget_B3_backoff_exponent_follows_the_count).</item>
/// <item>Budget.B4 a session classified Finished ends the connection whatever its health; Finished on
/// a failed attempt counts as Transient (Budget_B4_finished_ends_cleanly).</item>
/// </list>
/// </remarks>
internal sealed class FailureBudget
{
    private readonly int _permanentRetries;
    private readonly int? _maxAttempts;

    public FailureBudget(int permanentRetries, int? maxAttempts)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(permanentRetries);
        if (maxAttempts is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxAttempts), maxAttempts, "Must be >= 1 when set.");
        }

        _permanentRetries = permanentRetries;
        _maxAttempts = maxAttempts;
    }

    /// <summary>Failed attempts and short sessions since the last healthy session (or the start).</summary>
    public int ConsecutiveFailures { get; private set; }

    /// <summary>Permanent failures in a row (attempts and short sessions alike).</summary>
    public int ConsecutivePermanent { get; private set; }

    /// <summary>
    /// Budget.B3: null when the next attempt may start at once; otherwise the retry index to give
    /// the backoff (0 = the first retry's delay).
    /// </summary>
    public int? BackoffRetryIndex => ConsecutiveFailures == 0 ? null : ConsecutiveFailures - 1;

    /// <summary>A connect attempt failed with an error of class <paramref name="failureClass"/>.</summary>
    public BudgetVerdict AttemptFailed(FailureClass failureClass) =>
        CountFailure(failureClass == FailureClass.Permanent);

    /// <summary>A connected session ended.</summary>
    /// <param name="healthy">It stayed up for at least <c>StableAfter</c>.</param>
    /// <param name="failureClass">The class of the error that ended it; null when it ended without one (a forced reconnect).</param>
    public BudgetVerdict SessionEnded(bool healthy, FailureClass? failureClass)
    {
        if (failureClass == FailureClass.Finished)
        {
            return BudgetVerdict.Finished;
        }

        if (healthy)
        {
            // Budget.B1: a healthy session earns a fresh budget; a Permanent drop still counts once, so
            // PermanentRetries = 0 means "do not knock again" even after a long session.
            ConsecutiveFailures = 0;
            ConsecutivePermanent = failureClass == FailureClass.Permanent ? 1 : 0;
            return ConsecutivePermanent > _permanentRetries ? BudgetVerdict.Unrecoverable : BudgetVerdict.Continue;
        }

        if (failureClass is null)
        {
            // A forced reconnect is a request, not a failure: it neither counts nor resets.
            return BudgetVerdict.Continue;
        }

        return CountFailure(failureClass == FailureClass.Permanent);
    }

    private BudgetVerdict CountFailure(bool permanent)
    {
        ConsecutiveFailures = ConsecutiveFailures == int.MaxValue ? int.MaxValue : ConsecutiveFailures + 1;
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

        return _maxAttempts is { } max && ConsecutiveFailures >= max ? BudgetVerdict.Exhausted : BudgetVerdict.Continue;
    }
}
