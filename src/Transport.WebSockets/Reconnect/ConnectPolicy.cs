using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Transport.WebSockets.Reconnect;

/// <summary>
/// One connect cycle: attempts until one succeeds, composed as
/// <c>retry(backoff, classification) -> attempt-rate gate -> connect timeout -> attempt</c>.
/// Polly v8 provides the retry loop, the delays and the per-attempt timeout, all on the
/// injected <see cref="TimeProvider"/>; the rate gate and the Transient/Permanent bookkeeping are ours.
/// </summary>
/// <remarks>
/// Determinism: both pipelines run with a <see cref="ResilienceContext"/> whose
/// <c>ContinueOnCapturedContext</c> is true, so every continuation returns to the actor's
/// scheduler (a pumped test scheduler keeps control across retries and delays).
/// <para>
/// Policy.P1 each attempt has its own connect timeout: a hung handshake cannot wedge the backoff
///    (test: R2_hung_handshake_is_cut_by_connect_timeout_and_backoff_proceeds).
/// Policy.P2 Transient failures are retried for ever unless MaxAttempts is set (test: R5_transient_failures_are_retried_forever).
/// Policy.P3 Permanent failures get PermanentRetries retries, then the cycle is Unrecoverable (test: R6_permanent_failure_becomes_unrecoverable_after_the_configured_retries).
/// </para>
/// </remarks>
internal sealed class ConnectPolicy
{
    private readonly ReconnectOptions _options;
    private readonly IFailureClassifier _classifier;
    private readonly AttemptRateGate? _rateGate;
    private readonly ResiliencePipeline<ILeafConnection> _retry;
    private readonly ResiliencePipeline<ILeafConnection> _timeout;

    // Per-cycle bookkeeping; the actor runs one cycle at a time.
    private int _consecutiveFailures;
    private int _consecutivePermanent;
    private ConnectVerdict _giveUp;
    private TransportException? _lastError;
    private Action<TransportException, TimeSpan>? _onRetry;

    public ConnectPolicy(ReconnectOptions options, IFailureClassifier classifier, TimeProvider time, Func<double> random)
    {
        _options = options;
        _classifier = classifier;
        if (options.MaxAttemptsPerWindow is { } max)
        {
            _rateGate = new AttemptRateGate(max, options.AttemptRateWindow, time);
        }

        var backoff = new BackoffCalculator(options.MinBackoff, options.MaxBackoff, options.UseJitter, random);
        _retry = new ResiliencePipelineBuilder<ILeafConnection> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<ILeafConnection>
            {
                MaxRetryAttempts = int.MaxValue,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && ShouldRetry(ex)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(backoff.DelayFor(args.AttemptNumber)),
                OnRetry = args =>
                {
                    _onRetry?.Invoke(_lastError!, args.RetryDelay);
                    return default;
                },
            })
            .Build();
        _timeout = new ResiliencePipelineBuilder<ILeafConnection> { TimeProvider = time }
            .AddTimeout(options.ConnectTimeout)
            .Build();
    }

    /// <summary>
    /// Runs attempts until one connects or the policy gives up.
    /// </summary>
    /// <param name="attempt">Stamps auth and connects; receives the attempt's token (bounded by the connect timeout).</param>
    /// <param name="onRetry">Called after each failed attempt with the error and the coming delay.</param>
    /// <param name="dropCause">The failure that ended the previous connection, counted like a failed attempt's class.</param>
    /// <param name="cancellationToken">Shutdown.</param>
    public async ValueTask<ConnectOutcome> RunCycleAsync(
        Func<CancellationToken, ValueTask<ILeafConnection>> attempt,
        Action<TransportException, TimeSpan> onRetry,
        TransportException? dropCause,
        CancellationToken cancellationToken)
    {
        _consecutiveFailures = 0;
        _consecutivePermanent = dropCause is not null && _classifier.Classify(dropCause) == FailureClass.Permanent ? 1 : 0;
        _lastError = null;
        _giveUp = ConnectVerdict.Connected;
        _onRetry = onRetry;
        if (_consecutivePermanent > _options.PermanentRetries)
        {
            // The drop itself was permanent and no retries are granted: do not knock again.
            return new ConnectOutcome(ConnectVerdict.Unrecoverable, null, dropCause);
        }

        var context = ResilienceContextPool.Shared.Get(continueOnCapturedContext: true, cancellationToken);
        try
        {
            var connection = await _retry.ExecuteAsync(
                async (ctx, state) =>
                {
                    if (_rateGate is not null)
                    {
                        await _rateGate.WaitAndRecordAsync(ctx.CancellationToken);
                    }

                    return await state._timeout.ExecuteAsync(
                        static async (innerCtx, body) => await body(innerCtx.CancellationToken),
                        ctx,
                        state.attempt);
                },
                context,
                (_timeout, attempt));
            return new ConnectOutcome(ConnectVerdict.Connected, connection, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new ConnectOutcome(ConnectVerdict.Cancelled, null, _lastError);
        }
        catch (Exception ex) when (_giveUp is ConnectVerdict.Unrecoverable or ConnectVerdict.Exhausted)
        {
            return new ConnectOutcome(_giveUp, null, _lastError ?? Normalize(ex));
        }
        finally
        {
            _onRetry = null;
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>Maps whatever an attempt threw into the taxonomy.</summary>
    internal static TransportException Normalize(Exception error) => error switch
    {
        TransportException te => te,
        TimeoutRejectedException tr => TransportException.Timeout($"The connect attempt exceeded its connect timeout ({tr.Timeout}).", tr),
        OperationCanceledException oce => TransportException.Cancelled(oce),
        _ => TransportException.Connection($"The connect attempt failed ({error.GetType().Name}).", error),
    };

    private bool ShouldRetry(Exception error)
    {
        if (error is OperationCanceledException && error is not TimeoutRejectedException)
        {
            // Shutdown cancelled the cycle: not a failure to retry.
            return false;
        }

        var normalized = Normalize(error);
        _lastError = normalized;
        _consecutiveFailures++;
        if (_classifier.Classify(normalized) == FailureClass.Permanent)
        {
            _consecutivePermanent++;
            if (_consecutivePermanent > _options.PermanentRetries)
            {
                _giveUp = ConnectVerdict.Unrecoverable;
                return false;
            }
        }
        else
        {
            _consecutivePermanent = 0;
        }

        if (_options.MaxAttempts is { } max && _consecutiveFailures >= max)
        {
            _giveUp = ConnectVerdict.Exhausted;
            return false;
        }

        return true;
    }
}
