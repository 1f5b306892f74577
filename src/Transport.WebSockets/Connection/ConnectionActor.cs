using Microsoft.Extensions.Logging;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Endpoints;
using Transport.WebSockets.Initialization;
using Transport.WebSockets.Lifecycle;
using Transport.WebSockets.Pacing;
using Transport.WebSockets.Reconnect;
using Transport.WebSockets.Sending;
using Transport.WebSockets.Telemetry;

namespace Transport.WebSockets.Connection;

/// <summary>
/// One actor per reconnecting connection: the cycle skeleton (connect, run a session, drop,
/// reconnect), the control signals (ForceReconnect, Shutdown) and termination. It owns the
/// connection's parts and hands them to the units that do the work:
/// <see cref="ConnectPolicy"/> (the connect cycle), <see cref="Session"/> (one per epoch: receive,
/// write, liveness, close), <see cref="PhaseMachine"/> (every phase change), <see cref="EpochFence"/>
/// (every epoch-pin rule) and <see cref="LagReporter"/>.
/// </summary>
/// <remarks>
/// <para>
/// THE DETERMINISM RULE. Everything here runs on the scheduler the <see cref="ISpawner"/> started
/// it on: awaits never use <c>ConfigureAwait(false)</c> (continuations come back to
/// <c>TaskScheduler.Current</c>), nothing calls <c>Task.Run</c>, and all time comes from the injected
/// <see cref="TimeProvider"/>. With Transport.Mock's pumped spawn and manual clock a test therefore
/// steps the actor like a script. Outside callers (ForceReconnect, Shutdown) never run actor code
/// on their own thread: they set a flag and spawn the signal.
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Actor.A1 auth is stamped inside every attempt; a credential rotated between drop and reconnect is the one used.</item>
/// <item>Actor.A2 the epoch advances exactly once per completed down-cycle.</item>
/// <item>Actor.A5 a send pinned to an ended epoch fails with StaleEpoch and never reaches a later socket (the rules are in <see cref="EpochFence"/>).</item>
/// <item>Actor.A6 shutdown sends the close handshake within CloseTimeout, then completes unconditionally; Closed is the last snapshot.</item>
/// </list>
/// </remarks>
internal sealed class ConnectionActor
{
    private readonly TransportOptions _options;
    private readonly ILeafConnector _leaf;
    private readonly IAuthSource _auth;
    private readonly TimeProvider _time;
    private readonly ISpawner _spawner;
    private readonly ILogger _logger;
    private readonly ConnectPolicy _policy;
    private readonly ConnectionTelemetry _telemetry;
    private readonly EpochFence _fence;
    private readonly PhaseMachine _phases;
    private readonly SessionServices _sessionServices;
    private readonly HandshakeFactory _handshakes;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closeCutShort = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Control flags, set from any thread.
    private int _shutdownRequested;
    private int _reconnectSignalPending;

    // Actor-only state (the current session is read by control signals, which run on the actor too).
    private readonly CancellationTokenSource _shutdownCts = new();
    private Session? _session;
    private bool _everConnected;
    private bool _everUp;
    private long _attempts;
    private int _attemptInCycle;
    private string _lastEndpoint = string.Empty;
    private TransportException? _lastFailure;

    // The facts of the newest session that went up; read from any thread (conn.Session).
    private SessionInfo? _sessionInfo;

    public ConnectionActor(ConnectionServices services)
    {
        _options = services.Options;
        _leaf = services.Leaf;
        _auth = services.Auth;
        _time = services.Time;
        _spawner = services.Spawner;
        _logger = services.Loggers.CreateLogger("Transport.WebSockets.Connection." + _options.Name);
        _policy = new ConnectPolicy(_options.Reconnect, services.Classifier, _time, services.Random, _logger, _options.Name, services.AttemptGate, _options.Session.Lifetime);
        var pacer = _options.Send.RateLimit is { } rate ? new SendPacer(rate, _time) : null;
        Ring = new DropOldestRing(_options.Receive.RingCapacityFrames, _options.Receive.RingCapacityBytes);
        Queue = new SendQueue(_options.Send.CapacityFrames, _options.Send.CapacityBytes);
        Lifecycle = new LifecyclePublisher(_spawner, _logger);
        _fence = new EpochFence(_logger);
        Sink = new FrameSink(Queue, _fence);
        Source = new FrameSource(Ring);
        _telemetry = services.Telemetry.Create(_options.Name, _time, () => Source.Count, () => Queue.Count, CurrentDownSeconds);
        _phases = new PhaseMachine(Lifecycle, _telemetry, _logger, _options.Name);
        var lag = new LagReporter(Ring, _phases, _spawner, _logger, _options.Name);
        _sessionServices = new SessionServices(_options, _time, _logger, Ring, Queue, pacer, _fence, _phases, _telemetry, lag, () => ShutdownRequested, _closeCutShort.Task)
        {
            Initializer = services.Initializer,
            ConnectionSink = Sink,
        };
        _handshakes = new HandshakeFactory(_options, services.Endpoints, _logger);
        Trigger = new ReconnectTrigger(ForceReconnect);
    }

    public DropOldestRing Ring { get; }

    public SendQueue Queue { get; }

    public LifecyclePublisher Lifecycle { get; }

    public FrameSink Sink { get; }

    public FrameSource Source { get; }

    public ReconnectTrigger Trigger { get; }

    public Task Stopped => _stopped.Task;

    /// <summary>The facts of the newest session that went up; null before the first.</summary>
    public SessionInfo? SessionInfo => Volatile.Read(ref _sessionInfo);

    private bool ShutdownRequested => Volatile.Read(ref _shutdownRequested) != 0;

    /// <summary>Starts the actor through the spawn seam.</summary>
    public void Start()
    {
        Log.Starting(_logger, _options.Name, _handshakes.RedactedPrimary);
        var now = _time.GetUtcNow();
        _phases.Update(s => s with { DownSince = now });
        _ = _spawner.Spawn(RunAsync);
    }

    /// <summary>
    /// Requests shutdown; idempotent. The returned task completes when the actor has stopped, or,
    /// when <paramref name="cancellationToken"/> fires first, is cancelled while shutdown carries on
    /// in the background (the Channels/Polly convention: the token bounds the caller's wait).
    /// </summary>
    public Task ShutdownAsync(CancellationToken cancellationToken)
    {
        // Item 7: an actor that already stopped (Unrecoverable, exhausted, closed) needs no signal;
        // its shutdown token is no longer watched by anyone.
        if (Interlocked.Exchange(ref _shutdownRequested, 1) == 0 && !Stopped.IsCompleted)
        {
            Log.ShuttingDown(_logger, _options.Name);
            _ = _spawner.Spawn(() =>
            {
                Volatile.Read(ref _session)?.End(SessionEnd.Shutdown);
                _shutdownCts.Cancel();
                return Task.CompletedTask;
            });
        }

        if (!cancellationToken.CanBeCanceled || Stopped.IsCompleted)
        {
            return Stopped;
        }

        // The caller's token also cuts the close handshake short, so shutdown finishes sooner.
        var registration = cancellationToken.Register(static s => ((ConnectionActor)s!)._closeCutShort.TrySetResult(), this);
        _ = Stopped.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return Stopped.WaitAsync(cancellationToken);
    }

    /// <summary>Coalescing, fire-and-forget; a no-op after shutdown or while no session is up.</summary>
    private void ForceReconnect(string reason)
    {
        if (ShutdownRequested || Interlocked.Exchange(ref _reconnectSignalPending, 1) != 0)
        {
            return;
        }

        Log.ReconnectRequested(_logger, _options.Name, reason);
        _ = _spawner.Spawn(() =>
        {
            Volatile.Write(ref _reconnectSignalPending, 0);
            Volatile.Read(ref _session)?.End(SessionEnd.Forced);
            return Task.CompletedTask;
        });
    }

    private async Task RunAsync()
    {
        try
        {
            while (!ShutdownRequested)
            {
                var outcome = await _policy.RunCycleAsync(AttemptAsync, OnRetry, _shutdownCts.Token);
                if (outcome.Verdict != ConnectVerdict.Connected)
                {
                    EndWith(outcome);
                    return;
                }

                var connection = outcome.Connection!;
                if (ShutdownRequested)
                {
                    await connection.DisposeAsync();
                    break;
                }

                var (end, epoch, wentUp, deliveredData, downSince) = await RunSessionAsync(connection);
                if (end.Reason == SessionEndReason.Shutdown)
                {
                    break;
                }

                // The budget judges the session before anything is published: a finished stream ends
                // Closed without a Reconnecting snapshot, a permanent drop on a short session counts,
                // a socket whose initializer failed counts as a failed attempt, and a healthy end (a
                // clean close after data, a reached lifetime) reconnects at once (Budget.B5, B6).
                if (_policy.SessionEnded(end.Error, wentUp, deliveredData) is { } verdict)
                {
                    Log.SessionEnded(_logger, LogLevel.Information, _options.Name, epoch, end.Reason.ToString(), Describe(end.Error));
                    EndWith(verdict);
                    return;
                }

                if (wentUp)
                {
                    // Liveness.L6: DownSince is when the end was signalled, or the last sign of life
                    // when a liveness timeout detected it (not after close and dispose).
                    _phases.Dropped(end, epoch, downSince, scheduled: _policy.LastEndWasClean);
                }
                else if (end.Error is { } failed)
                {
                    // Init.I2: the socket never went up (its initializer failed): an attempt failure,
                    // counted by the budget above; the phase and DownSince stay as they were.
                    _phases.Update(s => s with { LastError = failed });
                }
            }

            Terminate(ConnectionPhase.Closed, exhausted: false, error: null);
        }
        catch (Exception ex)
        {
            // A bug in the stack must still end in a terminal snapshot, never a silent hang.
            // Type and stack only: the message of an arbitrary exception may echo a credential.
            Log.ActorFailed(_logger, _options.Name, ex.GetType().FullName ?? ex.GetType().Name, ex.StackTrace);
            if (!_phases.Current.IsTerminal)
            {
                Terminate(ConnectionPhase.Unrecoverable, exhausted: false, ConnectPolicy.Normalize(ex));
            }
        }
        finally
        {
            _telemetry.Dispose();

            // _shutdownCts is deliberately not disposed: it has no timer and no linked parents, so
            // Dispose would free nothing, and a shutdown signal spawned just before the actor
            // stopped may still call Cancel on it (item 7: that faulted the signal's task).
            _stopped.TrySetResult();
        }
    }

    private void EndWith(ConnectOutcome outcome)
    {
        switch (outcome.Verdict)
        {
            case ConnectVerdict.Unrecoverable:
                Log.Unrecoverable(_logger, _options.Name, Describe(outcome.Error));
                Terminate(ConnectionPhase.Unrecoverable, exhausted: false, outcome.Error);
                break;
            case ConnectVerdict.Exhausted:
                Log.Exhausted(_logger, _options.Name, _options.Reconnect.MaxAttempts, Describe(outcome.Error));
                Terminate(ConnectionPhase.Closed, exhausted: true, outcome.Error);
                break;
            case ConnectVerdict.Finished:
                // The adapter's classifier said the stream is finished: Closed, the source ends normally.
                Terminate(ConnectionPhase.Closed, exhausted: false, error: null);
                break;
            default:
                Terminate(ConnectionPhase.Closed, exhausted: false, error: null);
                break;
        }
    }

    private async ValueTask<ILeafConnection> AttemptAsync(CancellationToken cancellationToken)
    {
        var attempt = ++_attempts;
        _telemetry.Attempt();
        _phases.Update(s => s with { Attempts = attempt });

        // Actor.A1: a fresh request per attempt, stamped now, never a cached one; its endpoint is
        // chosen anew too (Endpoint.E1: failover order, or the adapter's provider).
        var epochIfConnected = _everConnected ? _fence.CurrentEpoch + 1 : 0;
        var request = await _handshakes.CreateAsync(attempt, ++_attemptInCycle, epochIfConnected, _everConnected, _lastFailure, cancellationToken);
        await _auth.StampAsync(request, new AuthContext(epochIfConnected, attempt, _everConnected), cancellationToken);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            // HandshakeRequest.ToString redacts every credential; the request itself is never logged.
            Log.Attempt(_logger, _options.Name, attempt, request.ToString());
        }

        _lastEndpoint = request.ToRedactedUriString();
        try
        {
            return await _leaf.ConnectAsync(request, cancellationToken);
        }
        catch (TransportException error) when (error.Kind == TransportErrorKind.Compression)
        {
            // Fallback.F1: a leaf that reports compression failing during the handshake gets the next attempt without the offer.
            throw _handshakes.Compression.Observe(error);
        }
    }

    private void OnRetry(TransportException error, TimeSpan delay)
    {
        _lastFailure = error;
        _phases.AttemptFailed(error, _attempts, delay);
    }

    private async Task<(SessionEnd End, long Epoch, bool WentUp, bool DeliveredData, DateTimeOffset DownSince)> RunSessionAsync(ILeafConnection connection)
    {
        // Actor.A2: the epoch advances once per socket opened after the first (a down-cycle). A socket
        // whose session initializer failed keeps its epoch: frames it received carry it, so the next
        // socket must not reuse it.
        var epoch = _everConnected ? _fence.Advance() : _fence.CurrentEpoch;
        _everConnected = true;
        var info = SessionFacts.Create(epoch, _time.GetUtcNow(), connection.Handshake, connection.Capabilities, _options.Session.ResponseHeaders, _lastEndpoint);

        var session = new Session(_sessionServices, connection, epoch, info);
        Volatile.Write(ref _session, session);
        if (ShutdownRequested)
        {
            // Shutdown was signalled while this connection was being made.
            session.End(SessionEnd.Shutdown);
        }

        var end = await session.RunAsync(() =>
        {
            var now = _time.GetUtcNow();
            Volatile.Write(ref _sessionInfo, info);
            _attemptInCycle = 0;
            if (_everUp)
            {
                var downFor = _phases.Current.DownSince is { } since ? now - since : TimeSpan.Zero;
                _phases.Resumed(epoch, _attempts, now);
                _telemetry.Reconnected(downFor);
            }
            else
            {
                _everUp = true;
                _phases.Connected(epoch, _attempts, now);
            }
        });
        Volatile.Write(ref _session, null);

        // Fallback.F1/F2: a session the leaf ended with a Compression failure turns the deflate offer off
        // for every later attempt, and the error reported from here on says so (docs/adr/0019).
        if (end.Error is { Kind: TransportErrorKind.Compression } compression)
        {
            end = end with { Error = _handshakes.Compression.Observe(compression) };
        }

        // Actor.A5 / Fence.E4: the epoch has ended; pinned sends still queued for it fail now.
        _fence.EndEpoch(epoch, Queue);
        _lastFailure = end.Error ?? _lastFailure;
        return (end, epoch, session.WentUp, session.DataFramesDelivered > 0, session.DownSince);
    }

    private void Terminate(ConnectionPhase phase, bool exhausted, TransportException? error)
    {
        var shutdown = TransportException.Shutdown();
        foreach (var request in Queue.Close(error ?? shutdown))
        {
            _fence.Fail(request, error ?? shutdown);
        }

        // Unrecoverable and exhausted sources end with the error; a clean shutdown ends normally
        // after the frames still buffered.
        Ring.Complete(phase == ConnectionPhase.Unrecoverable || exhausted ? error : null);
        _phases.Terminated(phase, exhausted, error, Ring.TotalLagged, _time.GetUtcNow());
    }

    // TransportException.ToString carries kind, codes and a composed message only (no URI, no inner message).
    private static string Describe(TransportException? error) => error?.ToString() ?? "none";

    private double CurrentDownSeconds() =>
        Lifecycle.Current.DownSince is { } since && !Lifecycle.Current.IsUp ? (_time.GetUtcNow() - since).TotalSeconds : 0;
}
