using Microsoft.Extensions.Logging;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Endpoints;
using Transport.WebSockets.Initialization;
using Transport.WebSockets.Lifecycle;
using Transport.WebSockets.Pacing;
using Transport.WebSockets.Reconnect;
using Transport.WebSockets.Rotation;
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
/// <para>
/// Make-before-break rotation (<see cref="RotateAsync"/>; its invariants Rotation.T1-T8 are stated on
/// <see cref="RotationRun"/>) runs beside the cycle: the rotation opens and initializes the next socket
/// while the current session serves, then either switches (the old session ends with
/// <see cref="SessionEndReason.Rotated"/> and the cycle carries on with the successor), or, when the old
/// session died first, hands its socket to the cycle as the reconnect's.
/// </para>
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

    // Rotation: the one in progress (guarded by _rotationGate), its overlap filter, the schedule's timer.
    private readonly Lock _rotationGate = new();
    private readonly RotationOverlap _overlap;
    private RotationRun? _rotation;
    private RotationRun? _adopted;
    private ITimer? _rotationTimer;

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
        _overlap = new RotationOverlap(services.KeySelector, services.Dedupe, _time);
        _sessionServices = new SessionServices(_options, _time, _logger, Ring, Queue, pacer, _fence, _phases, _telemetry, lag, () => ShutdownRequested, _closeCutShort.Task, _overlap)
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
                lock (_rotationGate)
                {
                    // A rotation's socket still initializing is closed too (the cycle abandons the rotation as it ends).
                    _rotation?.New?.End(SessionEnd.Shutdown);
                }

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

    /// <summary>
    /// Starts a make-before-break rotation, or joins the one in progress (Rotation.T1-T8). The token bounds the
    /// caller's wait only (the <see cref="ShutdownAsync"/> convention); the rotation itself is bounded by the
    /// connect timeout and the session initializer's.
    /// </summary>
    /// <param name="reason">Why, for the log ("requested", "scheduled").</param>
    /// <param name="cancellationToken">Bounds the wait.</param>
    public Task<RotationResult> RotateAsync(string reason, CancellationToken cancellationToken)
    {
        if (ShutdownRequested || Stopped.IsCompleted)
        {
            return Task.FromResult(RotationResult.Skipped(_phases.Current.Epoch));
        }

        var waiter = new TaskCompletionSource<RotationResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = _spawner.Spawn(() => StartRotationAsync(reason, waiter));
        return cancellationToken.CanBeCanceled ? waiter.Task.WaitAsync(cancellationToken) : waiter.Task;
    }

    // On the actor: Rotation.T7 (one rotation at a time, later calls join it) and T8 (nothing up: skipped).
    private async Task StartRotationAsync(string reason, TaskCompletionSource<RotationResult> waiter)
    {
        RotationRun rotation;
        var old = Volatile.Read(ref _session);
        lock (_rotationGate)
        {
            if (_rotation is { } running)
            {
                running.Join(waiter);
                return;
            }

            if (ShutdownRequested || Stopped.IsCompleted || old is null || !old.WentUp || old.HasEnded || _phases.Current.IsTerminal)
            {
                waiter.TrySetResult(RotationResult.Skipped(_phases.Current.Epoch));
                return;
            }

            rotation = new RotationRun(old, reason, _shutdownCts.Token);
            rotation.Join(waiter);
            _rotation = rotation;
        }

        _overlap.Begin(old.Epoch);
        RotationLog.Started(_logger, _options.Name, old.Epoch, reason);
        await RunRotationAsync(rotation);
    }

    private async Task RunRotationAsync(RotationRun rotation)
    {
        try
        {
            ILeafConnection connection;
            try
            {
                // Rotation.T1: under the attempt gate and the connect timeout, auth stamped for the next epoch (Actor.A1).
                connection = await _policy.RunRotationAttemptAsync(AttemptAsync, rotation.Cancellation.Token);
            }
            catch (OperationCanceledException)
            {
                FailRotation(rotation, TransportException.Shutdown());
                return;
            }
            catch (Exception ex)
            {
                FailRotation(rotation, ConnectPolicy.Normalize(ex));
                return;
            }

            // Actor.A2: one epoch per socket opened; the old epoch stays current for sends until it ends.
            var epoch = _fence.Advance();
            var info = SessionFacts.Create(epoch, _time.GetUtcNow(), connection.Handshake, connection.Capabilities, _options.Session.ResponseHeaders, _lastEndpoint);
            var session = new Session(_sessionServices, connection, epoch, info) { ConnectedAt = _time.GetTimestamp() };
            session.BeforeUp = () => RotationBeforeUpAsync(rotation, session);
            session.WriteAfter = rotation.Old.WritingStopped;
            _overlap.NewSocket(epoch);
            var run = session.RunAsync(() => RotationWentUp(rotation, session, info));
            bool abandoned;
            lock (_rotationGate)
            {
                rotation.New = session;
                rotation.NewRun = run;
                abandoned = rotation.Abandoned;
            }

            if (abandoned)
            {
                session.End(SessionEnd.Shutdown);
            }

            rotation.Started.TrySetResult(true);
            await Task.WhenAny(run, rotation.Up.Task);
            if (rotation.Up.Task.IsCompleted)
            {
                // Switched or handed over: the cycle owns the session from here (FinishSessionAsync).
                return;
            }

            // The next socket ended before it went up (its initializer failed or timed out, or it was abandoned).
            var end = await run;
            bool handedOver;
            lock (_rotationGate)
            {
                handedOver = rotation.OldDied && !rotation.Abandoned;
                rotation.Failed = !handedOver;
            }

            if (!handedOver)
            {
                // Rotation.T3: the old socket keeps serving. The next socket's epoch is not ended on the fence:
                // that would also end the older epoch that is still serving.
                FailRotation(rotation, end.Error ?? TransportException.Connection($"The rotation's socket (epoch {epoch}) ended before it went up ({end.Reason})."));
            }
        }
        finally
        {
            rotation.Started.TrySetResult(false);
            rotation.Finished.TrySetResult();
        }
    }

    // Rotation.T3: the next socket failed; the old one keeps serving and the failure is reported (LastError, log, result).
    private void FailRotation(RotationRun rotation, TransportException error)
    {
        bool abandoned;
        lock (_rotationGate)
        {
            rotation.Failed = true;
            abandoned = rotation.Abandoned;
            if (ReferenceEquals(_rotation, rotation))
            {
                _rotation = null;
            }
        }

        _overlap.End();
        rotation.Started.TrySetResult(false);
        if (abandoned || ShutdownRequested)
        {
            rotation.Complete(RotationResult.Skipped(_fence.CurrentEpoch));
            return;
        }

        RotationLog.Failed(_logger, _options.Name, rotation.Old.Epoch, rotation.Reason, Describe(error));
        if (!_phases.Current.IsTerminal)
        {
            _phases.Update(s => s with { LastError = error });
        }

        rotation.Complete(new RotationResult(RotationOutcome.Failed, rotation.Old.Epoch, TimeSpan.Zero, 0, error));
    }

    // Before the next socket's up-edge: the switch (Rotation.T1), or, when the old socket died first, the
    // wait for the cycle to publish the down-edge and adopt this socket (Rotation.T6).
    private async Task RotationBeforeUpAsync(RotationRun rotation, Session next)
    {
        lock (_rotationGate)
        {
            if (!rotation.OldDied && !rotation.Abandoned && rotation.Old.End(SessionEnd.Rotated))
            {
                rotation.Switched = true;
                return;
            }

            rotation.OldDied = true;
        }

        await rotation.HandoverReady.Task;
        if (rotation.Abandoned)
        {
            next.End(SessionEnd.Shutdown);
        }
    }

    private void RotationWentUp(RotationRun rotation, Session session, SessionInfo info)
    {
        var now = _time.GetUtcNow();
        Volatile.Write(ref _session, session);
        Volatile.Write(ref _sessionInfo, info);
        _attemptInCycle = 0;
        if (rotation.Switched)
        {
            // Rotation.T1, T5: one epoch advance, no down-edge; unkeyed frames come from the new socket from now on.
            _overlap.Switch();
            _phases.Rotated(session.Epoch, _attempts, now);
        }
        else
        {
            // Rotation.T6: an ordinary reconnect (the cycle published the down-edge), served by this socket.
            var downFor = _phases.Current.DownSince is { } since ? now - since : TimeSpan.Zero;
            _phases.Resumed(session.Epoch, _attempts, now);
            _telemetry.Reconnected(downFor);
            rotation.Complete(new RotationResult(RotationOutcome.Reconnected, session.Epoch, TimeSpan.Zero, 0, null));
        }

        rotation.Up.TrySetResult();
        ScheduleRotation(session);
    }

    // Rotation.T6: after the down-edge of a session that died during a rotation, the rotation's socket (when it
    // connects) is the reconnect's: no second socket, one epoch advance.
    private async Task<SessionRun?> TakeHandoverAsync()
    {
        RotationRun? rotation;
        lock (_rotationGate)
        {
            rotation = _rotation;
            if (rotation is null || rotation.Failed || rotation.Abandoned)
            {
                return null;
            }

            rotation.OldDied = true;
        }

        var started = await rotation.Started.Task;
        lock (_rotationGate)
        {
            if (ReferenceEquals(_rotation, rotation))
            {
                _rotation = null;
            }
        }

        if (!started || rotation.New is not { } next)
        {
            _overlap.End();
            // Its attempt failed (reported by FailRotation): the cycle reconnects as usual.
            return null;
        }

        // Keyed copies of what the old socket delivered are still dropped until the next socket's held frames are out.
        _overlap.Retire();
        RotationLog.HandedOver(_logger, _options.Name, rotation.Old.Epoch, next.Epoch);
        _policy.AdoptConnected(next.ConnectedAt);
        _adopted = rotation;
        rotation.HandoverReady.TrySetResult();
        return new SessionRun(next, rotation.NewRun!);
    }

    // The cycle is ending (shutdown or a terminal verdict): a rotation still in progress is abandoned, its socket closed.
    private async Task AbandonRotationAsync()
    {
        RotationRun? rotation;
        lock (_rotationGate)
        {
            rotation = _rotation;
            _rotation = null;
            if (rotation is not null)
            {
                rotation.Abandoned = true;
            }
        }

        if (rotation is null)
        {
            return;
        }

        rotation.Cancellation.Cancel();
        rotation.New?.End(SessionEnd.Shutdown);
        rotation.HandoverReady.TrySetResult();
        await rotation.Finished.Task;
        if (rotation.NewRun is { } run)
        {
            await run;
        }

        _overlap.End();
        rotation.Complete(RotationResult.Skipped(_fence.CurrentEpoch));
    }

    // Rotation.T9: with Session.Lifetime and Session.RotateBefore, a session that went up rotates at
    // lifetime - rotateBefore after its up-edge (on the injected clock), unless it ended first.
    private void ScheduleRotation(Session session)
    {
        _rotationTimer?.Dispose();
        _rotationTimer = null;
        if (_options.Session.Lifetime is not { } lifetime || _options.Session.RotateBefore is not { } before)
        {
            return;
        }

        _rotationTimer = _time.CreateTimer(
            static state =>
            {
                var (actor, due) = ((ConnectionActor, Session))state!;
                if (ReferenceEquals(Volatile.Read(ref actor._session), due) && !due.HasEnded)
                {
                    _ = actor.RotateAsync("scheduled", CancellationToken.None);
                }
            },
            (this, session),
            lifetime - before,
            Timeout.InfiniteTimeSpan);
    }

    private async Task RunAsync()
    {
        try
        {
            SessionRun? adopted = null;
            while (!ShutdownRequested)
            {
                SessionRun run;
                if (adopted is { } handedOver)
                {
                    // Rotation.T6: the old socket died during a rotation; its next socket is this reconnect's.
                    run = handedOver;
                    adopted = null;
                }
                else
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

                    run = StartSession(connection);
                }

                var (end, epoch, wentUp, deliveredData, downSince) = await FinishSessionAsync(run);
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
                    Log.SessionEnded(_logger, LogLevel.Information, _options.Name, epoch, Log.SessionEndCause(end.Reason == SessionEndReason.Forced, end.Error),
                        verdict.Verdict == ConnectVerdict.Finished ? "not reconnecting (the stream finished: Closed)" : $"not reconnecting ({verdict.Verdict})");
                    await AbandonRotationAsync();
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

                adopted = await TakeHandoverAsync();
            }

            await AbandonRotationAsync();
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
            _rotationTimer?.Dispose();
            _overlap.End();
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

    // Opens the session of a socket the cycle connected.
    private SessionRun StartSession(ILeafConnection connection)
    {
        // Actor.A2: the epoch advances once per socket opened after the first (a down-cycle). A socket
        // whose session initializer failed keeps its epoch: frames it received carry it, so the next
        // socket must not reuse it.
        var epoch = _everConnected ? _fence.Advance() : _fence.CurrentEpoch;
        _everConnected = true;
        var info = SessionFacts.Create(epoch, _time.GetUtcNow(), connection.Handshake, connection.Capabilities, _options.Session.ResponseHeaders, _lastEndpoint);

        var session = new Session(_sessionServices, connection, epoch, info) { ConnectedAt = _time.GetTimestamp() };
        Volatile.Write(ref _session, session);
        if (ShutdownRequested)
        {
            // Shutdown was signalled while this connection was being made.
            session.End(SessionEnd.Shutdown);
        }

        var run = session.RunAsync(() =>
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

            ScheduleRotation(session);
        });
        return new SessionRun(session, run);
    }

    // Awaits the session to its end; when a rotation switched away from it, completes the rotation and
    // follows the successor (Rotation.T1: no down-edge, the cycle carries on with the next socket).
    private async Task<(SessionEnd End, long Epoch, bool WentUp, bool DeliveredData, DateTimeOffset DownSince)> FinishSessionAsync(SessionRun run)
    {
        var end = await run.Task;
        while (end.Reason == SessionEndReason.Rotated)
        {
            // The old socket has closed (1000) and been disposed; the successor serves.
            RotationRun rotation;
            lock (_rotationGate)
            {
                rotation = _rotation!;
                _rotation = null;
            }

            _fence.EndEpoch(run.Session.Epoch, Queue);
            _overlap.Retire();
            _policy.AdoptConnected(rotation.New!.ConnectedAt);
            var result = new RotationResult(RotationOutcome.Rotated, rotation.New.Epoch, _time.GetElapsedTime(rotation.New.ConnectedAt), _overlap.Duplicates, null);
            RotationLog.Completed(_logger, _options.Name, run.Session.Epoch, rotation.New.Epoch, result.Overlap.TotalMilliseconds, result.DuplicatesDropped, _overlap.UnkeyedDropped, rotation.Reason);
            rotation.Complete(result);
            run = new SessionRun(rotation.New, rotation.NewRun!);
            end = await run.Task;
        }

        Interlocked.CompareExchange(ref _session, null, run.Session);
        var session = run.Session;
        if (_adopted is { } adopted && ReferenceEquals(adopted.New, session))
        {
            // Rotation.T6: the adopted socket's session is over; a rotation that never went up failed.
            _adopted = null;
            if (!session.WentUp)
            {
                _overlap.End();
                adopted.Complete(new RotationResult(RotationOutcome.Failed, _fence.CurrentEpoch, TimeSpan.Zero, 0, end.Error ?? TransportException.Connection("The rotation's socket ended before it went up.")));
            }
        }

        // Fallback.F1/F2: a session the leaf ended with a Compression failure turns the deflate offer off
        // for every later attempt, and the error reported from here on says so (docs/adr/0019).
        if (end.Error is { Kind: TransportErrorKind.Compression } compression)
        {
            end = end with { Error = _handshakes.Compression.Observe(compression) };
        }

        // Actor.A5 / Fence.E4: the epoch has ended; pinned sends still queued for it fail now.
        _fence.EndEpoch(session.Epoch, Queue);
        _lastFailure = end.Error ?? _lastFailure;
        return (end, session.Epoch, session.WentUp, session.DataFramesDelivered > 0, session.DownSince);
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

    /// <summary>A session and the task that runs it.</summary>
    private readonly record struct SessionRun(Session Session, Task<SessionEnd> Task);
}
