using Transport.WebSockets.Reconnect;

namespace Transport.Tests.Reconnect;

/// <summary>
/// Table-driven: a script of events (attempt failures and session ends) against the budget, with
/// the verdict and counts expected after the last one.
/// </summary>
public sealed class FailureBudgetTests
{
    // Event notation: "aT"/"aP"/"aF" an attempt failed Transient/Permanent/Finished;
    // "hT"/"hP"/"hF"/"h-" a healthy session ended Transient/Permanent/Finished/forced;
    // "sT"/"sP"/"sF"/"s-" a short (unhealthy) session ended likewise.
    public static TheoryData<string, int, int?, string, string, int, int> Cases => new()
    {
        // script, PermanentRetries, MaxAttempts, events, last verdict, consecutive failures, consecutive permanent
        { "first start is immediate", 2, null, "", "Continue", 0, 0 },
        { "transient attempts grow the count", 2, null, "aT aT aT", "Continue", 3, 0 },
        { "permanent attempts: two retries then unrecoverable", 2, null, "aP aP aP", "Unrecoverable", 3, 3 },
        { "a transient restarts the permanent count", 2, null, "aP aP aT aP aP", "Continue", 5, 2 },
        { "short permanent sessions: unrecoverable after the retries", 2, null, "sP sP sP", "Unrecoverable", 3, 3 },
        { "short permanent sessions mixed with failed attempts", 2, null, "sP aP sP", "Unrecoverable", 3, 3 },
        { "short transient sessions grow the backoff exponent", 2, null, "sT sT sT sT", "Continue", 4, 0 },
        { "a healthy session resets the count", 2, null, "sT sT aT hT", "Continue", 0, 0 },
        { "a healthy permanent drop counts once", 2, null, "sP sP hP", "Continue", 0, 1 },
        { "a healthy permanent drop with no retries is unrecoverable", 0, null, "hP", "Unrecoverable", 0, 1 },
        { "short permanent session with no retries is unrecoverable", 0, null, "sP", "Unrecoverable", 1, 1 },
        { "a forced reconnect after a short session neither counts nor resets", 2, null, "sT s-", "Continue", 1, 0 },
        { "a forced reconnect after a healthy session resets", 2, null, "sT sT h-", "Continue", 0, 0 },
        { "max attempts counts failed attempts", 2, 3, "aT aT aT", "Exhausted", 3, 0 },
        { "max attempts counts short sessions", 2, 3, "aT sT sT", "Exhausted", 3, 0 },
        { "max attempts restarts after a healthy session", 2, 3, "aT aT hT aT aT", "Continue", 2, 0 },
        { "unrecoverable wins over exhausted on the same failure", 2, 3, "aP aP aP", "Unrecoverable", 3, 3 },
        { "finished on a session ends it, healthy or not", 2, null, "aT sF", "Finished", 1, 0 },
        { "finished on a healthy session", 2, null, "hF", "Finished", 0, 0 },
        { "finished on an attempt counts as transient", 2, null, "aP aF", "Continue", 2, 0 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    [Trait("Invariant", "Budget.B1")]
    [Trait("Invariant", "Budget.B2")]
    [Trait("Invariant", "Budget.B4")]
    public void Budget_table(string script, int permanentRetries, int? maxAttempts, string events, string verdict, int failures, int permanent)
    {
        var budget = new FailureBudget(permanentRetries, maxAttempts);
        var last = BudgetVerdict.Continue;
        foreach (var e in events.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.True(last == BudgetVerdict.Continue, $"{script}: event '{e}' after a terminal verdict {last}.");
            FailureClass? cls = e[1] switch
            {
                'T' => FailureClass.Transient,
                'P' => FailureClass.Permanent,
                'F' => FailureClass.Finished,
                _ => null,
            };
            last = e[0] switch
            {
                'a' => budget.AttemptFailed(cls!.Value),
                'h' => budget.SessionEnded(healthy: true, cls),
                's' => budget.SessionEnded(healthy: false, cls),
                _ => throw new ArgumentException(e),
            };
        }

        Assert.Equal(Enum.Parse<BudgetVerdict>(verdict), last);
        Assert.Equal(failures, budget.ConsecutiveFailures);
        Assert.Equal(permanent, budget.ConsecutivePermanent);
    }

    [Fact]
    [Trait("Invariant", "Budget.B1")]
    public void Budget_B1_short_sessions_count_as_failures()
    {
        var budget = new FailureBudget(permanentRetries: 2, maxAttempts: null);
        Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(healthy: false, FailureClass.Transient));
        Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(healthy: false, FailureClass.Transient));
        Assert.Equal(2, budget.ConsecutiveFailures);

        Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(healthy: true, FailureClass.Transient));
        Assert.Equal(0, budget.ConsecutiveFailures);
    }

    [Fact]
    [Trait("Invariant", "Budget.B2")]
    public void Budget_B2_permanent_retries_then_unrecoverable()
    {
        var budget = new FailureBudget(permanentRetries: 3, maxAttempts: null);
        for (var retry = 0; retry < 3; retry++)
        {
            Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(healthy: false, FailureClass.Permanent));
        }

        Assert.Equal(BudgetVerdict.Unrecoverable, budget.AttemptFailed(FailureClass.Permanent));
    }

    [Fact]
    [Trait("Invariant", "Budget.B3")]
    public void Budget_B3_backoff_exponent_follows_the_count()
    {
        var budget = new FailureBudget(permanentRetries: 2, maxAttempts: null);
        Assert.Null(budget.BackoffRetryIndex);
        budget.AttemptFailed(FailureClass.Transient);
        Assert.Equal(0, budget.BackoffRetryIndex);
        budget.SessionEnded(healthy: false, FailureClass.Transient);
        Assert.Equal(1, budget.BackoffRetryIndex);
        budget.AttemptFailed(FailureClass.Transient);
        Assert.Equal(2, budget.BackoffRetryIndex);
        budget.SessionEnded(healthy: true, FailureClass.Transient);
        Assert.Null(budget.BackoffRetryIndex);
        budget.SessionEnded(healthy: true, FailureClass.Permanent);
        Assert.Null(budget.BackoffRetryIndex); // immediate even after a healthy permanent drop (its retries still count)
    }

    [Fact]
    [Trait("Invariant", "Budget.B4")]
    public void Budget_B4_finished_ends_cleanly()
    {
        var budget = new FailureBudget(permanentRetries: 0, maxAttempts: 1);
        Assert.Equal(BudgetVerdict.Finished, budget.SessionEnded(healthy: false, FailureClass.Finished));
        Assert.Equal(0, budget.ConsecutiveFailures);
    }

    [Fact]
    public void Rejects_invalid_limits()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailureBudget(-1, null));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailureBudget(0, 0));
    }
}
