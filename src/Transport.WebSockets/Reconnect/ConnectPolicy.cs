using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Transport.WebSockets.Telemetry;

namespace Transport.WebSockets.Reconnect;

/// <summary>
/// The connect-time axis of one connection: <c>backoff (FailureBudget, Retry-After) -> attempt-rate
/// gate -> bounded attempt (connect timeout, user-code boundary)</c>, and the judgement of each
/// session's end. It lives as long as the connection, so the failure budget survives cycles.
/// </summary>
/// <remarks>
/// <para>
/// Hand-written rather than a Polly pipeline (ADR 0006): the budget spans cycles while Polly's
/// attempt counter restarts with every execution; the first attempt of a cycle must wait after an
/// unhealthy session while Polly's first attempt is always immediate; and Polly's timeout is
/// cooperative (it awaits a callee that ignores its token), while this one abandons such a callee
/// at the connect timeout. What Polly gave here, a delay on the injected clock, is one
/// <c>Task.Delay(delay, TimeProvider)</c>.
/// </para>
/// <para>
/// Determinism: awaits without <c>ConfigureAwait(false)</c> (ADR 0003) and all time comes from the
/// injected <see cref="TimeProvider"/>; intervals are monotonic (<see cref="TimeProvider.GetTimestamp"/>).
/// </para>
/// <para>Invariants (tests in tests/Transport.Tests/Reconnect and tests/Transport.Tests/Actor):</para>
/// <list type="bullet">
/// <item>Policy.P1 each attempt has its own connect timeout; a hung handshake cannot wedge the backoff,
/// and a callee that ignores its token is abandoned at the timeout, its late connection disposed
/// (R2_hung_handshake_is_cut_by_connect_timeout_and_backoff_proceeds, Item4_leaf_that_ignores_its_token_is_abandoned_at_the_connect_timeout).</item>
/// <item>Policy.P2 Transient failures are retried for ever unless MaxAttempts is set (R5_transient_failures_are_retried_forever).</item>
/// <item>Policy.P3 the user-code boundary: an exception from the attempt (auth source, leaf) is a
/// Transient Connection error named by type; a cancellation that is not the transport's is a
/// Transient Timeout; a classifier that throws falls back to the default classifier
/// (Item1_auth_source_whose_HttpClient_times_out_is_a_transient_timeout, Item2_classifier_that_throws_falls_back_to_the_default).</item>
/// <item>Policy.P4 see <see cref="RetryAfterRule"/>.</item>
/// <item>Policy.P5 the first attempt after a healthy session is immediate; after an unhealthy one it
/// waits the backoff of the budget's count (Policy_P5_short_sessions_back_off_and_a_healthy_one_reconnects_at_once).</item>
/// <item>Policy.P6 the policy gives the budget the facts of each ended session (uptime on monotonic time,
/// whether it delivered data, the venue's close code) and applies its verdict: a venue's clean close
/// after data and a session that reached its configured lifetime reconnect at once whatever their
/// length (Budget.B5), and a session that delivered data restarts MaxAttempts (Budget.B6)
/// (Policy_P6_default_main_job_reconnects_at_once_after_every_lifetime_close, Policy_P6_chaos_between_data_never_exhausts).</item>
/// </list>
/// </remarks>
internal sealed class ConnectPolicy
{
    private readonly ReconnectOptions _options;
    private readonly IFailureClassifier _classifier;
    private readonly TimeProvider _time;
    private readonly BackoffCalculator _backoff;
    private readonly AttemptRateGate? _gate;
    private readonly ILogger _logger;
    private readonly string _name;

    // Connection-long state; the actor runs one cycle at a time.
    private long? _connectedAt;
    private TimeSpan _pendingDelay;
    private bool _configurationLogged;

    /// <summary>Creates the policy.</summary>
    /// <param name="options">The reconnect options.</param>
    /// <param name="classifier">The adapter's classifier (called behind the user-code boundary).</param>
    /// <param name="time">The clock.</param>
    /// <param name="random">Jitter source in [0, 1).</param>
    /// <param name="logger">Where boundary events are logged.</param>
    /// <param name="name">The connection's name, for logs.</param>
    /// <param name="gate">The connector's shared attempt gate; null builds one for this connection when the cap is on.</param>
    /// <param name="sessionLifetime">The venue's session lifetime (<c>Session.Lifetime</c>), if known.</param>
    public ConnectPolicy(
        ReconnectOptions options,
        IFailureClassifier classifier,
        TimeProvider time,
        Func<double> random,
        ILogger? logger = null,
        string name = "default",
        AttemptRateGate? gate = null,
        TimeSpan? sessionLifetime = null)
    {
        _options = options;
        _classifier = classifier;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _name = name;
        _gate = gate ?? (options.MaxAttemptsPerWindow is { } max ? new AttemptRateGate(max, options.AttemptRateWindow, time) : null);
        _backoff = new BackoffCalculator(options.MinBackoff, options.MaxBackoff, options.UseJitter, random);
        Budget = new FailureBudget(options.PermanentRetries, options.MaxAttempts, options.StableAfter, sessionLifetime);
    }

    /// <summary>The connection's failure budget (exposed for tests and telemetry).</summary>
    public FailureBudget Budget { get; }

    /// <summary>The wait the next cycle starts with (zero: at once).</summary>
    public TimeSpan PendingDelay => _pendingDelay;

    /// <summary>Whether the last judged session was healthy and ended by the venue's clean close (1000, 1001): its schedule, not a failure.</summary>
    public bool LastEndWasClean { get; private set; }

    /// <summary>
    /// Judges the end of the session the last <c>RunCycleAsync</c> connected (Policy.P6, Budget.B5):
    /// healthy when it stayed up for <c>StableAfter</c> (monotonic time), when it delivered data and
    /// the venue closed it with 1000 or 1001, or when it reached the configured session lifetime.
    /// Returns null to reconnect (after <see cref="PendingDelay"/>), or the verdict that ends the
    /// connection. Idempotent per session.
    /// </summary>
    /// <param name="cause">The error that ended it; null for a forced reconnect.</param>
    /// <param name="wentUp">
    /// False when the socket never went up (its session initializer failed): then the end counts as
    /// a failed attempt whatever its duration.
    /// </param>
    /// <param name="deliveredData">Whether the session delivered at least one data frame (Budget.B6).</param>
    public ConnectOutcome? SessionEnded(TransportException? cause, bool wentUp = true, bool deliveredData = false)
    {
        if (_connectedAt is not { } since)
        {
            return null;
        }

        _connectedAt = null;
        var uptime = _time.GetElapsedTime(since);
        var facts = new SessionEndFacts(uptime, deliveredData, cause is { Kind: TransportErrorKind.ClosedByPeer } ? cause.CloseCode : null, SessionEndFacts.IsTransportCut(cause));
        var health = wentUp ? Budget.Judge(facts) : SessionHealth.Short;
        LastEndWasClean = health == SessionHealth.Healthy && FailureBudget.IsCleanClose(facts.PeerCloseCode);
        var verdict = !wentUp && cause is not null
            ? Budget.AttemptFailed(Classify(cause))
            : Budget.SessionEnded(health, cause is null ? null : Classify(cause));
        switch (verdict)
        {
            case BudgetVerdict.Unrecoverable:
                return new ConnectOutcome(ConnectVerdict.Unrecoverable, null, cause);
            case BudgetVerdict.Exhausted:
                return new ConnectOutcome(ConnectVerdict.Exhausted, null, cause);
            case BudgetVerdict.Finished:
                return new ConnectOutcome(ConnectVerdict.Finished, null, cause);
        }

        _pendingDelay = NextDelay(cause);
        if (health != SessionHealth.Healthy && _pendingDelay > TimeSpan.Zero)
        {
            Log.ShortSession(_logger, _name, uptime, deliveredData, _options.StableAfter, Budget.ConsecutiveFailures, _pendingDelay);
        }

        return null;
    }

    /// <summary>
    /// Runs attempts until one connects or the budget gives up. Compatibility form: when the
    /// previous session's end was not judged yet, <paramref name="dropCause"/> is judged first.
    /// </summary>
    public async ValueTask<ConnectOutcome> RunCycleAsync(
        Func<CancellationToken, ValueTask<ILeafConnection>> attempt,
        Action<TransportException, TimeSpan> onRetry,
        TransportException? dropCause,
        CancellationToken cancellationToken)
    {
        if (SessionEnded(dropCause) is { } ended)
        {
            return ended;
        }

        return await RunCycleAsync(attempt, onRetry, cancellationToken);
    }

    /// <summary>Runs attempts until one connects or the budget gives up.</summary>
    /// <param name="attempt">Stamps auth and connects; receives the attempt's token (bounded by the connect timeout).</param>
    /// <param name="onRetry">Called after each failed attempt with the error and the coming delay.</param>
    /// <param name="cancellationToken">Shutdown.</param>
    public async ValueTask<ConnectOutcome> RunCycleAsync(
        Func<CancellationToken, ValueTask<ILeafConnection>> attempt,
        Action<TransportException, TimeSpan> onRetry,
        CancellationToken cancellationToken)
    {
        TransportException? lastError = null;
        try
        {
            while (true)
            {
                var delay = _pendingDelay;
                _pendingDelay = TimeSpan.Zero;
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, _time, cancellationToken);
                }

                if (_gate is not null)
                {
                    await _gate.WaitAndRecordAsync(cancellationToken);
                }

                try
                {
                    var connection = await RunBoundedAsync(attempt, cancellationToken);
                    _connectedAt = _time.GetTimestamp();
                    return new ConnectOutcome(ConnectVerdict.Connected, connection, null);
                }
                catch (TransportException error)
                {
                    lastError = error;
                    if (error.Kind == TransportErrorKind.Configuration && !_configurationLogged)
                    {
                        // Once per connection: the message is what the user must fix (composed secret-free).
                        _configurationLogged = true;
                        Log.ConfigurationError(_logger, _name, error.Message);
                    }

                    switch (Budget.AttemptFailed(Classify(error)))
                    {
                        case BudgetVerdict.Unrecoverable:
                            return new ConnectOutcome(ConnectVerdict.Unrecoverable, null, error);
                        case BudgetVerdict.Exhausted:
                            return new ConnectOutcome(ConnectVerdict.Exhausted, null, error);
                    }

                    _pendingDelay = NextDelay(error);
                    onRetry(error, _pendingDelay);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new ConnectOutcome(ConnectVerdict.Cancelled, null, lastError);
        }
    }

    /// <summary>
    /// Rotation.T1: one attempt for a make-before-break rotation, under the attempt-rate gate and the connect
    /// timeout like any other, outside the budget (the serving socket is fine; a failure is reported, not
    /// counted). Throws a <see cref="TransportException"/>, or <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> fires.
    /// </summary>
    public async ValueTask<ILeafConnection> RunRotationAttemptAsync(Func<CancellationToken, ValueTask<ILeafConnection>> attempt, CancellationToken cancellationToken)
    {
        if (_gate is not null)
        {
            await _gate.WaitAndRecordAsync(cancellationToken);
        }

        return await RunBoundedAsync(attempt, cancellationToken);
    }

    /// <summary>A socket a rotation connected now serves: its uptime, for the budget's judgement, runs from <paramref name="connectedAt"/>.</summary>
    public void AdoptConnected(long connectedAt) => _connectedAt = connectedAt;

    /// <summary>Maps whatever an attempt or a session threw into the taxonomy.</summary>
    internal static TransportException Normalize(Exception error) => error switch
    {
        TransportException te => te,
        OperationCanceledException oce => TransportException.Cancelled(oce),
        _ => TransportException.Connection($"The connect attempt failed ({error.GetType().Name}).", error),
    };

    private TimeSpan NextDelay(TransportException? error)
    {
        var backoff = Budget.BackoffRetryIndex is { } retry ? _backoff.DelayFor(retry) : TimeSpan.Zero;
        return RetryAfterRule.Apply(backoff, error, _options.MaxRetryAfter);
    }

    /// <summary>Policy.P3 for the classifier: a throwing or nonsensical classifier falls back to the default.</summary>
    private FailureClass Classify(TransportException error)
    {
        try
        {
            var verdict = _classifier.Classify(error);
            if (Enum.IsDefined(verdict))
            {
                return verdict;
            }

            Log.ClassifierFailed(_logger, _name, $"undefined FailureClass {(int)verdict}");
        }
        catch (Exception ex)
        {
            // By type only: the message of arbitrary user code may echo a credential.
            Log.ClassifierFailed(_logger, _name, ex.GetType().FullName ?? ex.GetType().Name);
        }

        return DefaultFailureClassifier.Instance.Classify(error);
    }

    /// <summary>
    /// Policy.P1 and P3: one attempt behind the user-code boundary, bounded by the connect timeout
    /// whether or not the callee honours its token. Throws a <see cref="TransportException"/>, or
    /// <see cref="OperationCanceledException"/> for shutdown only.
    /// </summary>
    private async ValueTask<ILeafConnection> RunBoundedAsync(Func<CancellationToken, ValueTask<ILeafConnection>> attempt, CancellationToken shutdown)
    {
        using var deadline = new CancellationTokenSource(_options.ConnectTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(shutdown, deadline.Token);
        Task<ILeafConnection> task;
        try
        {
            task = attempt(linked.Token).AsTask();
        }
        catch (Exception ex)
        {
            task = Task.FromException<ILeafConnection>(ex);
        }

        if (!task.IsCompleted)
        {
            // Completed synchronously by the token's callback: the await below then resumes on the
            // actor's scheduler (queued there), never through a thread-pool hop a pumped test cannot step.
            var cut = new TaskCompletionSource();
            using (linked.Token.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetResult(), cut))
            {
                await Task.WhenAny(task, cut.Task);
            }

            if (!task.IsCompleted)
            {
                // The callee has not returned although its token fired: abandon it (a connection it
                // returns later is disposed), so a callee that ignores its token cannot wedge reconnection.
                _ = DisposeLateAsync(task);
                shutdown.ThrowIfCancellationRequested();
                throw TransportException.Timeout($"The connect attempt exceeded its connect timeout ({_options.ConnectTimeout}) and was abandoned.");
            }
        }

        try
        {
            return await task;
        }
        catch (TransportException)
        {
            throw;
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex) when (deadline.IsCancellationRequested)
        {
            throw TransportException.Timeout($"The connect attempt exceeded its connect timeout ({_options.ConnectTimeout}).", ex);
        }
        catch (OperationCanceledException ex)
        {
            // Not our token: for example the auth source's own HttpClient timed out (TaskCanceledException).
            Log.ForeignCancellation(_logger, _name, ex.GetType().FullName ?? ex.GetType().Name);
            throw TransportException.Timeout($"The connect attempt was cancelled by a token that is not the transport's ({ex.GetType().Name}); treated as a transient timeout.", ex);
        }
        catch (Exception ex)
        {
            // By type only: the message of arbitrary user code may echo a credential.
            Log.AttemptThrew(_logger, _name, ex.GetType().FullName ?? ex.GetType().Name);
            throw TransportException.Connection($"The connect attempt threw {ex.GetType().Name}.", ex);
        }
    }

    private async Task DisposeLateAsync(Task<ILeafConnection> late)
    {
        try
        {
            var connection = await late;
            Log.LateConnectionDisposed(_logger, _name);
            await connection.DisposeAsync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Observed, so it never surfaces as an unobserved task exception; nothing to dispose.
            if (ex is not OperationCanceledException)
            {
                Log.LateAttemptFailed(_logger, _name, ex.GetType().Name);
            }
        }
    }
}
