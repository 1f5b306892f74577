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
    // "dT"/"dP"/"dF"/"d-" a session that delivered data but was not healthy ended likewise;
    // "sT"/"sP"/"sF"/"s-" a short (unhealthy, no data) session ended likewise;
    // "cT"/"cP"/"cF"/"c-" a session that delivered data and was then cut (Budget.B7) ended likewise.
    // Expected counts: consecutive failures, consecutive permanent, failures since data.
    public static TheoryData<string, int, int?, string, string, int, int, int> Cases => new()
    {
        // script, PermanentRetries, MaxAttempts, events, last verdict, consecutive failures, consecutive permanent, failures since data
        { "first start is immediate", 2, null, "", "Continue", 0, 0, 0 },
        { "transient attempts grow the count", 2, null, "aT aT aT", "Continue", 3, 0, 3 },
        { "permanent attempts: two retries then unrecoverable", 2, null, "aP aP aP", "Unrecoverable", 3, 3, 3 },
        { "a transient restarts the permanent count", 2, null, "aP aP aT aP aP", "Continue", 5, 2, 5 },
        { "short permanent sessions: unrecoverable after the retries", 2, null, "sP sP sP", "Unrecoverable", 3, 3, 3 },
        { "short permanent sessions mixed with failed attempts", 2, null, "sP aP sP", "Unrecoverable", 3, 3, 3 },
        { "short transient sessions grow the backoff exponent", 2, null, "sT sT sT sT", "Continue", 4, 0, 4 },
        { "a healthy session resets the count", 2, null, "sT sT aT hT", "Continue", 0, 0, 0 },
        { "a healthy permanent drop counts once", 2, null, "sP sP hP", "Continue", 0, 1, 0 },
        { "a healthy permanent drop with no retries is unrecoverable", 0, null, "hP", "Unrecoverable", 0, 1, 0 },
        { "short permanent session with no retries is unrecoverable", 0, null, "sP", "Unrecoverable", 1, 1, 1 },
        { "a forced reconnect after a short session neither counts nor resets", 2, null, "sT s-", "Continue", 1, 0, 1 },
        { "a forced reconnect after a healthy session resets", 2, null, "sT sT h-", "Continue", 0, 0, 0 },
        { "max attempts counts failed attempts", 2, 3, "aT aT aT", "Exhausted", 3, 0, 3 },
        { "max attempts counts short sessions", 2, 3, "aT sT sT", "Exhausted", 3, 0, 3 },
        { "max attempts restarts after a healthy session", 2, 3, "aT aT hT aT aT", "Continue", 2, 0, 2 },
        { "unrecoverable wins over exhausted on the same failure", 2, 3, "aP aP aP", "Unrecoverable", 3, 3, 3 },
        { "finished on a session ends it, healthy or not", 2, null, "aT sF", "Finished", 1, 0, 1 },
        { "finished on a healthy session", 2, null, "hF", "Finished", 0, 0, 0 },
        { "finished on an attempt counts as transient", 2, null, "aP aF", "Continue", 2, 0, 2 },

        // Budget.B6: a session that delivered data restarts MaxAttempts; the backoff and Permanent counts still see it (B1).
        { "a session with data restarts max attempts but grows the backoff", 2, 3, "aT aT dT", "Continue", 3, 0, 0 },
        { "failures after a session with data count from zero", 2, 3, "aT aT dT aT aT", "Continue", 5, 0, 2 },
        { "max attempts runs out only after data stopped flowing", 2, 3, "aT aT dT aT aT sT", "Exhausted", 6, 0, 3 },
        { "faults with data between never exhaust", 2, 2, "aT dT aT dT aT dT aT dT aT dT", "Continue", 10, 0, 0 },
        { "permanent closes after data still count", 2, 100, "dP dP dP", "Unrecoverable", 3, 3, 0 },
        { "a forced end of a session with data restarts max attempts only", 2, 3, "aT aT d-", "Continue", 2, 0, 0 },
        { "finished on a session with data", 2, null, "aT dF", "Finished", 1, 0, 1 },

        // Budget.B7: a cut after data decays the count by one instead of adding one; everything else keeps growing it.
        { "a cut after data decays the count by one", 2, null, "aT aT aT cT", "Continue", 2, 0, 0 },
        { "a cut after data at zero stays at zero", 2, null, "cT cT cT", "Continue", 0, 0, 0 },
        { "a cut after data restarts the permanent count", 2, null, "aP aP cT aP aP", "Continue", 3, 2, 2 },
        { "a cut classified permanent counts like an error close", 2, null, "aT cP", "Continue", 2, 1, 0 },
        { "permanent cuts still end unrecoverable", 2, null, "cP cP cP", "Unrecoverable", 3, 3, 0 },
        { "one refusal per cut stays at one", 2, 3, "cT aT cT aT cT aT cT aT", "Continue", 1, 0, 1 },
        { "error closes after data still grow between cuts", 2, null, "dT dT cT dT", "Continue", 2, 0, 0 },
        { "a forced end of a cut session neither counts nor decays", 2, null, "aT aT c-", "Continue", 2, 0, 0 },
        { "finished on a cut session", 2, null, "aT cF", "Finished", 1, 0, 1 },
        { "cuts between data never exhaust max attempts", 2, 2, "aT cT aT cT aT cT aT cT", "Continue", 0, 0, 0 },
    };

    /// <summary>
    /// Budget.B7: the judge's table for cuts. Facts: uptime (s), delivered data, the venue's close code (or
    /// none), whether the transport was cut; StableAfter 30 s, lifetime 20 s where given.
    /// </summary>
    public static TheoryData<string, double, bool, int?, bool, double?, string> CutJudgeCases => new()
    {
        // case, uptime s, data, peer close code, transport cut, lifetime s, judged
        { "a reset after data", 5, true, null, true, null, "Cut" },
        { "a liveness timeout after data", 5, true, null, true, null, "Cut" },
        { "a cut without data: accept-then-drop", 5, false, null, true, null, "Short" },
        { "1011 after data: the venue's word, not a cut", 5, true, CloseCodes.InternalError, false, null, "Delivered" },
        { "1008 after data", 5, true, CloseCodes.PolicyViolation, false, null, "Delivered" },
        { "a protocol violation after data (not a cut)", 5, true, null, false, null, "Delivered" },
        { "a cut after data that reached the lifetime", 19.5, true, null, true, 20.0, "Healthy" },
        { "a cut after data, stable by length", 31, true, null, true, null, "Healthy" },
        { "1001 after data stays healthy", 5, true, CloseCodes.GoingAway, false, null, "Healthy" },
    };

    [Theory]
    [MemberData(nameof(CutJudgeCases))]
    [Trait("Invariant", "Budget.B7")]
    public void Budget_B7_judge_table(string name, double uptimeSeconds, bool data, int? closeCode, bool cut, double? lifetimeSeconds, string judged)
    {
        var budget = new FailureBudget(2, null, TimeSpan.FromSeconds(30), lifetimeSeconds is { } l ? TimeSpan.FromSeconds(l) : null);

        var health = budget.Judge(new SessionEndFacts(TimeSpan.FromSeconds(uptimeSeconds), data, closeCode, cut));

        Assert.True(Enum.Parse<SessionHealth>(judged) == health, $"{name}: judged {health}, expected {judged}.");
    }

    [Theory]
    [InlineData(TransportErrorKind.Connection, true)]
    [InlineData(TransportErrorKind.Timeout, true)]
    [InlineData(TransportErrorKind.ClosedByPeer, false)]
    [InlineData(TransportErrorKind.Protocol, false)]
    [InlineData(TransportErrorKind.MessageTooBig, false)]
    [InlineData(TransportErrorKind.Compression, false)]
    [InlineData(TransportErrorKind.Auth, false)]
    [Trait("Invariant", "Budget.B7")]
    public void Budget_B7_a_cut_is_a_connection_or_timeout_failure(TransportErrorKind kind, bool cut)
    {
        Assert.Equal(cut, SessionEndFacts.IsTransportCut(new TransportException(kind, "x", closeCode: kind == TransportErrorKind.ClosedByPeer ? CloseCodes.InternalError : null)));
        Assert.False(SessionEndFacts.IsTransportCut(null)); // a forced end
    }

    [Fact]
    [Trait("Invariant", "Budget.B7")]
    public void Budget_B7_a_cut_after_data_decays_the_count()
    {
        var budget = new FailureBudget(2, 5, TimeSpan.FromSeconds(30));
        var cut = new SessionEndFacts(TimeSpan.FromSeconds(3), true, null, TransportCut: true);
        for (var i = 0; i < 4; i++)
        {
            budget.AttemptFailed(FailureClass.Transient);
        }

        Assert.Equal(3, budget.BackoffRetryIndex);
        foreach (var expected in new int?[] { 2, 1, 0, null, null })
        {
            Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(cut, FailureClass.Transient));
            Assert.Equal(expected, budget.BackoffRetryIndex);
        }

        Assert.Equal(0, budget.FailuresSinceData);

        // An error close after data is the venue's word: it still adds one.
        budget.SessionEnded(new SessionEndFacts(TimeSpan.FromSeconds(3), true, CloseCodes.InternalError), FailureClass.Transient);
        Assert.Equal(0, budget.BackoffRetryIndex);
    }

    /// <summary>
    /// Budget.B5: the judge's table. Facts: uptime (s), delivered data, the venue's close code (or
    /// none); options StableAfter 30 s and the lifetime (s, or none).
    /// </summary>
    public static TheoryData<string, double, bool, int?, double?, string> JudgeCases => new()
    {
        // case, uptime s, data, peer close code, lifetime s, judged
        { "stable by length", 30, false, null, null, "Healthy" },
        { "stable by length with an error close", 45, true, CloseCodes.InternalError, null, "Healthy" },
        { "1001 after data, shorter than StableAfter", 20, true, CloseCodes.GoingAway, null, "Healthy" },
        { "1000 after data, shorter than StableAfter", 2, true, CloseCodes.NormalClosure, null, "Healthy" },
        { "1001 after data, however short", 0.01, true, CloseCodes.GoingAway, null, "Healthy" },
        { "1001 without data: accept-then-close", 20, false, CloseCodes.GoingAway, null, "Short" },
        { "1000 without data: accept-then-close", 0.1, false, CloseCodes.NormalClosure, null, "Short" },
        { "1011 after data: an error close", 20, true, CloseCodes.InternalError, null, "Delivered" },
        { "1008 after data: an error close", 1, true, CloseCodes.PolicyViolation, null, "Delivered" },
        { "a cut after data (no close frame)", 5, true, null, null, "Delivered" },
        { "a cut without data", 5, false, null, null, "Short" },
        { "reached the lifetime, cut", 20, false, null, 20.0, "Healthy" },
        { "reached the lifetime less the tolerance (5 %)", 19, true, CloseCodes.InternalError, 20.0, "Healthy" },
        { "just short of lifetime less the tolerance", 18.99, true, null, 20.0, "Delivered" },
        { "a 24 h lifetime: tolerance capped at one minute", 86_340, false, null, 86_400.0, "Healthy" },
        { "an error close long before the lifetime", 5, false, CloseCodes.InternalError, 20.0, "Short" },
    };

    [Theory]
    [MemberData(nameof(JudgeCases))]
    [Trait("Invariant", "Budget.B5")]
    public void Budget_B5_judge_table(string name, double uptimeSeconds, bool data, int? closeCode, double? lifetimeSeconds, string judged)
    {
        // The 24 h row is judged with StableAfter above its uptime, so only the lifetime rule can make it healthy.
        var stableAfter = uptimeSeconds > 3600 ? TimeSpan.FromDays(2) : TimeSpan.FromSeconds(30);
        var budget = new FailureBudget(2, null, stableAfter, lifetimeSeconds is { } l ? TimeSpan.FromSeconds(l) : null);

        var health = budget.Judge(new SessionEndFacts(TimeSpan.FromSeconds(uptimeSeconds), data, closeCode));

        Assert.True(Enum.Parse<SessionHealth>(judged) == health, $"{name}: judged {health}, expected {judged}.");
    }

    [Theory]
    [InlineData(20, 1)]
    [InlineData(2, 0.1)]
    [InlineData(1200, 60)]
    [InlineData(86_400, 60)]
    [Trait("Invariant", "Budget.B5")]
    public void Budget_B5_lifetime_tolerance_is_a_twentieth_capped_at_one_minute(double lifetimeSeconds, double toleranceSeconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(toleranceSeconds), FailureBudget.LifetimeTolerance(TimeSpan.FromSeconds(lifetimeSeconds)));
    }

    [Fact]
    [Trait("Invariant", "Budget.B5")]
    public void Budget_B5_zero_StableAfter_makes_every_session_healthy()
    {
        var budget = new FailureBudget(2, null, TimeSpan.Zero);
        Assert.Equal(SessionHealth.Healthy, budget.Judge(new SessionEndFacts(TimeSpan.Zero, false, CloseCodes.InternalError)));
    }

    [Fact]
    [Trait("Invariant", "Budget.B5")]
    public void Budget_B5_a_clean_close_after_data_resets_every_count_and_the_next_attempt_is_immediate()
    {
        var budget = new FailureBudget(2, 5, TimeSpan.FromSeconds(30));
        budget.AttemptFailed(FailureClass.Transient);
        budget.SessionEnded(new SessionEndFacts(TimeSpan.FromSeconds(1), false, CloseCodes.GoingAway), FailureClass.Transient);
        Assert.Equal(1, budget.BackoffRetryIndex);

        var verdict = budget.SessionEnded(new SessionEndFacts(TimeSpan.FromSeconds(20), true, CloseCodes.GoingAway), FailureClass.Transient);

        Assert.Equal(BudgetVerdict.Continue, verdict);
        Assert.Null(budget.BackoffRetryIndex);
        Assert.Equal(0, budget.ConsecutiveFailures);
        Assert.Equal(0, budget.FailuresSinceData);
    }

    [Fact]
    [Trait("Invariant", "Budget.B6")]
    public void Budget_B6_a_session_that_delivered_data_restarts_max_attempts()
    {
        // The chaos run: a fault every few seconds, each one recovered, data between; MaxAttempts 100.
        var budget = new FailureBudget(2, 100, TimeSpan.FromSeconds(30));
        for (var cycle = 0; cycle < 1000; cycle++)
        {
            Assert.Equal(BudgetVerdict.Continue, budget.AttemptFailed(FailureClass.Transient)); // a refusal
            Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(new SessionEndFacts(TimeSpan.FromSeconds(6), true, CloseCodes.InternalError), FailureClass.Transient)); // an error close after data
        }

        Assert.Equal(0, budget.FailuresSinceData);
        Assert.Equal(2000, budget.ConsecutiveFailures); // the backoff still sees every fault (capped by MaxBackoff)

        // Without data between, the cap still holds.
        for (var i = 0; i < 99; i++)
        {
            Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(new SessionEndFacts(TimeSpan.FromSeconds(1), false, CloseCodes.InternalError), FailureClass.Transient));
        }

        Assert.Equal(BudgetVerdict.Exhausted, budget.AttemptFailed(FailureClass.Transient));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    [Trait("Invariant", "Budget.B1")]
    [Trait("Invariant", "Budget.B2")]
    [Trait("Invariant", "Budget.B4")]
    [Trait("Invariant", "Budget.B6")]
    [Trait("Invariant", "Budget.B7")]
    public void Budget_table(string script, int permanentRetries, int? maxAttempts, string events, string verdict, int failures, int permanent, int sinceData)
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
                'c' => budget.SessionEnded(SessionHealth.Cut, cls),
                'h' => budget.SessionEnded(SessionHealth.Healthy, cls),
                'd' => budget.SessionEnded(SessionHealth.Delivered, cls),
                's' => budget.SessionEnded(SessionHealth.Short, cls),
                _ => throw new ArgumentException(e),
            };
        }

        Assert.Equal(Enum.Parse<BudgetVerdict>(verdict), last);
        Assert.Equal(failures, budget.ConsecutiveFailures);
        Assert.Equal(permanent, budget.ConsecutivePermanent);
        Assert.Equal(sinceData, budget.FailuresSinceData);
    }

    [Fact]
    [Trait("Invariant", "Budget.B1")]
    public void Budget_B1_sessions_that_are_not_healthy_count_as_failures()
    {
        var budget = new FailureBudget(permanentRetries: 2, maxAttempts: null);
        Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(SessionHealth.Short, FailureClass.Transient));
        Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(SessionHealth.Delivered, FailureClass.Transient));
        Assert.Equal(2, budget.ConsecutiveFailures);

        Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(SessionHealth.Healthy, FailureClass.Transient));
        Assert.Equal(0, budget.ConsecutiveFailures);
    }

    [Fact]
    [Trait("Invariant", "Budget.B2")]
    public void Budget_B2_permanent_retries_then_unrecoverable()
    {
        var budget = new FailureBudget(permanentRetries: 3, maxAttempts: null);
        for (var retry = 0; retry < 3; retry++)
        {
            Assert.Equal(BudgetVerdict.Continue, budget.SessionEnded(SessionHealth.Short, FailureClass.Permanent));
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
        budget.SessionEnded(SessionHealth.Short, FailureClass.Transient);
        Assert.Equal(1, budget.BackoffRetryIndex);
        budget.AttemptFailed(FailureClass.Transient);
        Assert.Equal(2, budget.BackoffRetryIndex);
        budget.SessionEnded(SessionHealth.Healthy, FailureClass.Transient);
        Assert.Null(budget.BackoffRetryIndex);
        budget.SessionEnded(SessionHealth.Healthy, FailureClass.Permanent);
        Assert.Null(budget.BackoffRetryIndex); // immediate even after a healthy permanent drop (its retries still count)
    }

    [Fact]
    [Trait("Invariant", "Budget.B4")]
    public void Budget_B4_finished_ends_cleanly()
    {
        var budget = new FailureBudget(permanentRetries: 0, maxAttempts: 1);
        Assert.Equal(BudgetVerdict.Finished, budget.SessionEnded(SessionHealth.Short, FailureClass.Finished));
        Assert.Equal(0, budget.ConsecutiveFailures);
    }

    [Fact]
    public void Rejects_invalid_limits()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailureBudget(-1, null));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailureBudget(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailureBudget(0, null, TimeSpan.FromSeconds(-1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FailureBudget(0, null, TimeSpan.Zero, TimeSpan.Zero));
    }
}
