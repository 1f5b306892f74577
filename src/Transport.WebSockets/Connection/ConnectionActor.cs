using Microsoft.Extensions.Logging;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Lifecycle;
using Transport.WebSockets.Liveness;
using Transport.WebSockets.Pacing;
using Transport.WebSockets.Reconnect;
using Transport.WebSockets.Sending;
using Transport.WebSockets.Telemetry;

namespace Transport.WebSockets.Connection;

/// <summary>
/// One actor per reconnecting connection. It owns the only live socket, the sink's queue, the
/// receive ring, the lifecycle publisher and the epoch counter, and runs the connect cycles and
/// the sessions between them.
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
/// <para>Invariants (each proved by the named test in tests/Transport.Tests/Actor):</para>
/// <list type="bullet">
/// <item>A1 auth is stamped inside every attempt; a credential rotated between drop and reconnect is the one used (A1_rotated_credential_is_used_on_reconnect).</item>
/// <item>A2 the epoch advances exactly once per completed down-cycle (A2_epoch_advances_once_per_down_cycle).</item>
/// <item>A3 the socket is always drained: the receive loop never waits on the consumer; pressure is absorbed by the ring (B3_pong_sent_while_ring_full_and_consumer_stalled).</item>
/// <item>A4 pongs and the control lane go before data (S1_control_lane_before_data).</item>
/// <item>A5 a send pinned to an ended epoch fails with StaleEpoch and never reaches a later socket (S2_pinned_send_rejected_after_reconnect).</item>
/// <item>A6 shutdown sends the close handshake within CloseTimeout, then completes unconditionally; Closed is the last snapshot (C1_shutdown_with_dead_socket_completes).</item>
/// </list>
/// </remarks>
internal sealed class ConnectionActor : IEpochClock
{
    private readonly TransportOptions _options;
    private readonly ILeafConnector _leaf;
    private readonly IAuthSource _auth;
    private readonly TimeProvider _time;
    private readonly ISpawner _spawner;
    private readonly ILogger _logger;
    private readonly ConnectPolicy _policy;
    private readonly SendPacer? _pacer;
    private readonly ConnectionTelemetry _telemetry;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closeCutShort = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Epoch state: written by the actor only, read by the sink from any thread.
    private long _epoch;
    private long _lastEndedEpoch = -1;

    // Control flags, set from any thread.
    private int _shutdownRequested;
    private int _reconnectSignalPending;

    // Actor-only state.
    private readonly CancellationTokenSource _shutdownCts = new();
    private TaskCompletionSource<SessionEnd>? _sessionEnd;
    private bool _everConnected;
    private long _attempts;
    private long _lastFrameTimestamp;

    // The receive loop and the liveness watch run concurrently on the thread pool in production:
    // the Stale mark and its publication change together under this lock, so a fresh frame and
    // the watch cannot leave the phase Stale while frames flow.
    private readonly object _staleGate = new();
    private volatile bool _stale;
    private int _lagPublishPending;

    public ConnectionActor(ConnectionServices services)
    {
        _options = services.Options;
        _leaf = services.Leaf;
        _auth = services.Auth;
        _time = services.Time;
        _spawner = services.Spawner;
        _logger = services.Loggers.CreateLogger("Transport.WebSockets.Connection." + _options.Name);
        _policy = new ConnectPolicy(_options.Reconnect, services.Classifier, _time, services.Random, _logger, _options.Name, services.AttemptGate);
        _pacer = _options.Send.RateLimit is { } rate ? new SendPacer(rate, _time) : null;
        Ring = new DropOldestRing(_options.Receive.RingCapacityFrames, _options.Receive.RingCapacityBytes);
        Queue = new SendQueue(_options.Send.CapacityFrames, _options.Send.CapacityBytes);
        Lifecycle = new LifecyclePublisher(_spawner, _logger);
        Sink = new FrameSink(Queue, this, _logger);
        Source = new FrameSource(Ring);
        _telemetry = services.Telemetry.Create(_options.Name, _time, () => Ring.Count, () => Queue.Count, CurrentDownSeconds);
        Trigger = new ReconnectTrigger(ForceReconnect);
    }

    public DropOldestRing Ring { get; }

    public SendQueue Queue { get; }

    public LifecyclePublisher Lifecycle { get; }

    public FrameSink Sink { get; }

    public FrameSource Source { get; }

    public ReconnectTrigger Trigger { get; }

    public Task Stopped => _stopped.Task;

    public long CurrentEpoch => Interlocked.Read(ref _epoch);

    public long LastEndedEpoch => Interlocked.Read(ref _lastEndedEpoch);

    private bool ShutdownRequested => Volatile.Read(ref _shutdownRequested) != 0;

    /// <summary>Starts the actor through the spawn seam.</summary>
    public void Start()
    {
        Log.Starting(_logger, _options.Name, Redaction.RedactUri(_options.Uri!));
        Lifecycle.Publish(s => s with { DownSince = _time.GetUtcNow() });
        _ = _spawner.Spawn(RunAsync);
    }

    /// <summary>Requests shutdown; idempotent. Completes when the actor has stopped.</summary>
    public Task ShutdownAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _shutdownRequested, 1) == 0)
        {
            Log.ShuttingDown(_logger, _options.Name);
            _ = _spawner.Spawn(() =>
            {
                Volatile.Read(ref _sessionEnd)?.TrySetResult(SessionEnd.Shutdown);
                _shutdownCts.Cancel();
                return Task.CompletedTask;
            });
        }

        if (cancellationToken.CanBeCanceled)
        {
            // The caller's token shortens the close handshake; shutdown itself still completes.
            var registration = cancellationToken.Register(static s => ((ConnectionActor)s!)._closeCutShort.TrySetResult(), this);
            _ = Stopped.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return Stopped;
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
            Volatile.Read(ref _sessionEnd)?.TrySetResult(SessionEnd.Forced);
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

                var end = await RunSessionAsync(connection);
                if (end.Reason == SessionEndReason.Shutdown)
                {
                    break;
                }

                // The budget judges the session before anything is published: a finished stream ends
                // Closed without a Reconnecting snapshot, and a permanent drop on a short session counts.
                if (_policy.SessionEnded(end.Error) is { } verdict)
                {
                    Log.SessionEnded(_logger, LogLevel.Information, _options.Name, CurrentEpoch, end.Reason.ToString(), Describe(end.Error));
                    EndWith(verdict);
                    return;
                }

                var downSince = _time.GetUtcNow();
                Lifecycle.Publish(s => s with { Phase = ConnectionPhase.Reconnecting, DownSince = downSince, LastError = end.Error ?? s.LastError });
                Published();
                // A forced reconnect is a request, not a failure.
                Log.SessionEnded(_logger, end.Reason == SessionEndReason.Forced ? LogLevel.Information : LogLevel.Warning, _options.Name, CurrentEpoch, end.Reason.ToString(), Describe(end.Error));
            }

            Terminate(ConnectionPhase.Closed, exhausted: false, error: null);
        }
        catch (Exception ex)
        {
            // A bug in the stack must still end in a terminal snapshot, never a silent hang.
            // Type and stack only: the message of an arbitrary exception may echo a credential.
            Log.ActorFailed(_logger, _options.Name, ex.GetType().FullName ?? ex.GetType().Name, ex.StackTrace);
            Terminate(ConnectionPhase.Unrecoverable, exhausted: false, ConnectPolicy.Normalize(ex));
        }
        finally
        {
            _telemetry.Dispose();
            _shutdownCts.Dispose();
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
        Lifecycle.Publish(s => s with { Attempts = attempt });

        // A1: a fresh request per attempt, stamped now, never a cached one.
        var request = new HandshakeRequest(_options.Uri!);
        foreach (var (name, value) in _options.Headers)
        {
            request.Headers[name] = value;
        }

        foreach (var subProtocol in _options.SubProtocols)
        {
            request.SubProtocols.Add(subProtocol);
        }

        var epochIfConnected = _everConnected ? CurrentEpoch + 1 : 0;
        await _auth.StampAsync(request, new AuthContext(epochIfConnected, attempt, _everConnected), cancellationToken);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            // HandshakeRequest.ToString redacts every credential; the request itself is never logged.
            Log.Attempt(_logger, _options.Name, attempt, request.ToString());
        }

        return await _leaf.ConnectAsync(request, cancellationToken);
    }

    private void OnRetry(TransportException error, TimeSpan delay)
    {
        Lifecycle.Publish(s => s with { LastError = error });
        Published();
        Log.AttemptFailed(_logger, _options.Name, _attempts, error.Kind, error.HttpStatus, error.CloseCode, delay, Describe(error));
    }

    private async Task<SessionEnd> RunSessionAsync(ILeafConnection connection)
    {
        var reconnected = _everConnected;
        if (reconnected)
        {
            Interlocked.Increment(ref _epoch);
        }

        _everConnected = true;
        var epoch = CurrentEpoch;
        var downFor = Lifecycle.Current.DownSince is { } since ? _time.GetUtcNow() - since : TimeSpan.Zero;
        _stale = false;
        Interlocked.Exchange(ref _lastFrameTimestamp, _time.GetTimestamp());
        var sessionEnd = new TaskCompletionSource<SessionEnd>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _sessionEnd, sessionEnd);
        if (ShutdownRequested)
        {
            // Shutdown was signalled while this connection was being made.
            sessionEnd.TrySetResult(SessionEnd.Shutdown);
        }

        Lifecycle.Publish(s => s with { Phase = UpPhase, Epoch = epoch, DownSince = null });
        Published();
        if (reconnected)
        {
            _telemetry.Reconnected(downFor);
        }

        Log.Up(_logger, _options.Name, UpPhase, epoch, _attempts);

        using var receiveCts = new CancellationTokenSource();
        using var writeCts = new CancellationTokenSource();
        var receiving = ReceiveLoopAsync(connection.Receiver, sessionEnd, receiveCts.Token);
        var writing = WriteLoopAsync(connection.Sender, epoch, sessionEnd, writeCts.Token);
        var watching = _options.Liveness.StaleAfter is null && _options.Liveness.DeadAfter is null
            ? Task.CompletedTask
            : LivenessLoopAsync(sessionEnd, receiveCts.Token);

        var end = await sessionEnd.Task;
        Volatile.Write(ref _sessionEnd, null);

        // Stop writing first: nothing may follow the close frame.
        writeCts.Cancel();
        await writing;
        if (end.Reason != SessionEndReason.Failed)
        {
            // A6: keep receiving through the close handshake, so frames the peer sent before its
            // close are delivered, not lost; the whole exchange is bounded by CloseTimeout.
            await CloseGracefullyAsync(connection.Sender, receiving, end.Reason == SessionEndReason.Shutdown ? "shutdown" : "reconnect");
        }

        receiveCts.Cancel();
        await receiving;
        await watching;
        await DisposeQuietlyAsync(connection);

        // A5: the epoch has ended; pinned sends still queued for it fail now.
        Interlocked.Exchange(ref _lastEndedEpoch, epoch);
        foreach (var request in Queue.RemovePinnedUpTo(epoch))
        {
            Sink.FailRequest(request, TransportException.StaleEpoch(request.Options.PinnedEpoch!.Value));
        }

        return end;
    }

    private ConnectionPhase UpPhase => CurrentEpoch == 0 ? ConnectionPhase.Connected : ConnectionPhase.Resumed;

    private async Task ReceiveLoopAsync(ILeafReceiver receiver, TaskCompletionSource<SessionEnd> sessionEnd, CancellationToken cancellationToken)
    {
        var trackIdle = _options.Liveness.StaleAfter is not null || _options.Liveness.DeadAfter is not null;
        try
        {
            while (true)
            {
                var frame = await receiver.ReceiveAsync(cancellationToken);
                if (trackIdle)
                {
                    Interlocked.Exchange(ref _lastFrameTimestamp, _time.GetTimestamp());
                    if (_stale)
                    {
                        MarkFresh();
                    }
                }

                switch (frame.Kind)
                {
                    case FrameKind.Text:
                    case FrameKind.Binary:
                        _telemetry.FrameReceived(frame.Length);

                        // A3: never waits; a full ring evicts its oldest frame instead.
                        var evicted = Ring.Write(frame);
                        if (evicted > 0)
                        {
                            _telemetry.Lagged(evicted);
                            ScheduleLagPublish();
                        }

                        break;
                    case FrameKind.Ping:
                        // A4: answered through the pong lane, ahead of every queued frame.
                        Queue.EnqueuePong(Frame.Pong(frame.Payload));
                        break;
                    case FrameKind.Pong:
                        break;
                    case FrameKind.Close:
                        sessionEnd.TrySetResult(SessionEnd.Failed(TransportException.ClosedByPeer(frame.CloseCode, frame.CloseReason)));
                        return;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The session is ending for another reason.
        }
        catch (Exception ex)
        {
            sessionEnd.TrySetResult(SessionEnd.Failed(ConnectPolicy.Normalize(ex)));
        }
    }

    private async Task WriteLoopAsync(ILeafSender sender, long epoch, TaskCompletionSource<SessionEnd> sessionEnd, CancellationToken cancellationToken)
    {
        SendRequest? current = null;

        // Once per session, not per wait: the queue's wait then allocates nothing (I4), and
        // cancelling the writer at session end still fails a pending wait at once.
        using var wakeOnCancel = Queue.RegisterWriterCancellation(cancellationToken);
        try
        {
            while (true)
            {
                await Queue.WaitToReadAsync(cancellationToken);

                // A4 under pacing: take the token first, then whatever has the highest priority
                // now, so a pong that arrived while we waited for the token still goes first.
                if (_pacer is not null)
                {
                    await _pacer.AcquireAsync(cancellationToken);
                }

                if (!Queue.TryDequeue(out current))
                {
                    _pacer?.Return(); // a cancelled send was withdrawn meanwhile
                    continue;
                }

                if (current.Options.PinnedEpoch is { } pinned && pinned != epoch)
                {
                    _pacer?.Return();
                    Sink.FailRequest(current, TransportException.StaleEpoch(pinned));
                    current = null;
                    continue;
                }

                await sender.SendAsync(current.Frame, cancellationToken);
                _telemetry.FrameSent(current.Frame.Length);
                current.Succeed();
                current = null;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            ReturnUnsent(current);
        }
        catch (TransportException ex) when (ex.Kind == TransportErrorKind.Shutdown && ShutdownRequested)
        {
            // The queue was closed by shutdown.
        }
        catch (Exception ex)
        {
            ReturnUnsent(current);
            sessionEnd.TrySetResult(SessionEnd.Failed(ConnectPolicy.Normalize(ex)));
        }
    }

    // A frame taken but not written goes back to the head of its lane for the next connection,
    // unless it was a pong (meaningful only on this socket).
    private void ReturnUnsent(SendRequest? request)
    {
        if (request is not null && !request.IsPong)
        {
            Queue.Requeue(request);
        }
    }

    private async Task LivenessLoopAsync(TaskCompletionSource<SessionEnd> sessionEnd, CancellationToken cancellationToken)
    {
        var staleAfter = _options.Liveness.StaleAfter;
        var deadAfter = _options.Liveness.DeadAfter;
        try
        {
            while (true)
            {
                var idle = _time.GetElapsedTime(Interlocked.Read(ref _lastFrameTimestamp));
                if (deadAfter is { } dead && idle >= dead)
                {
                    sessionEnd.TrySetResult(SessionEnd.Failed(TransportException.Timeout($"No frame for {dead} (Liveness.DeadAfter).")));
                    return;
                }

                if (staleAfter is { } stale && !_stale && idle >= stale)
                {
                    MarkStale(idle, stale);
                }

                var wait = LivenessSchedule.NextCheck(idle, staleAfter, deadAfter, _stale);
                await Task.Delay(wait, _time, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The session ended.
        }
    }

    private void MarkStale(TimeSpan idle, TimeSpan staleAfter)
    {
        lock (_staleGate)
        {
            // Re-check under the lock: a frame may have arrived since the watch measured.
            if (_stale || _time.GetElapsedTime(Interlocked.Read(ref _lastFrameTimestamp)) < staleAfter)
            {
                return;
            }

            _stale = true;
            Lifecycle.Publish(s => s with { Phase = ConnectionPhase.Stale });
        }

        Published();
        Log.Stale(_logger, _options.Name, idle, CurrentEpoch);
    }

    private void MarkFresh()
    {
        lock (_staleGate)
        {
            if (!_stale)
            {
                return;
            }

            _stale = false;
            Lifecycle.Publish(s => s with { Phase = UpPhase });
        }

        Published();
        Log.StaleRecovered(_logger, _options.Name, UpPhase, CurrentEpoch);
    }

    private async Task CloseGracefullyAsync(ILeafSender sender, Task receiving, string reason)
    {
        // Bounded by CloseTimeout on the injected clock, or cut short by the shutdown caller's token.
        using var bound = new CancellationTokenSource(_options.CloseTimeout, _time);
        var timedOut = Task.Delay(Timeout.InfiniteTimeSpan, bound.Token);
        var close = CloseQuietlyAsync(sender, reason, bound.Token);
        await Task.WhenAny(close, timedOut, _closeCutShort.Task);
        if (close.IsCompleted)
        {
            // The receive loop ends when the peer's close arrives (or the socket fails).
            await Task.WhenAny(receiving, timedOut, _closeCutShort.Task);
        }

        bound.Cancel();
    }

    private async Task CloseQuietlyAsync(ILeafSender sender, string reason, CancellationToken cancellationToken)
    {
        try
        {
            await sender.CloseAsync(CloseCodes.NormalClosure, reason, cancellationToken);
        }
        catch (Exception ex)
        {
            // Best effort: a dead socket cannot close politely, and shutdown completes regardless.
            Log.CloseIncomplete(_logger, _options.Name, ex.GetType().Name);
        }
    }

    private async Task DisposeQuietlyAsync(ILeafConnection connection)
    {
        try
        {
            await connection.DisposeAsync();
        }
        catch (Exception ex)
        {
            Log.DisposeFailed(_logger, _options.Name, ex.GetType().Name);
        }
    }

    // Evictions can happen once per frame under a flood; publishing a snapshot for each would put
    // allocation and observer work on the hot path. Instead one publication is scheduled, and it
    // reads the ring's cumulative count when it runs (lossless: TotalLagged is cumulative).
    private void ScheduleLagPublish()
    {
        if (Interlocked.Exchange(ref _lagPublishPending, 1) != 0)
        {
            return;
        }

        _ = _spawner.Spawn(() =>
        {
            Volatile.Write(ref _lagPublishPending, 0);
            var lagged = Ring.TotalLagged;
            if (Lifecycle.Current.TotalLagged != lagged)
            {
                Log.Lagged(_logger, _options.Name, lagged);
            }

            Lifecycle.Publish(s => s.TotalLagged == lagged ? s : s with { TotalLagged = lagged });
            return Task.CompletedTask;
        });
    }

    private void Terminate(ConnectionPhase phase, bool exhausted, TransportException? error)
    {
        var shutdown = TransportException.Shutdown();
        foreach (var request in Queue.Close(error ?? shutdown))
        {
            Sink.FailRequest(request, error ?? shutdown);
        }

        // Unrecoverable and exhausted sources end with the error; a clean shutdown ends normally
        // after the frames still buffered.
        Ring.Complete(phase == ConnectionPhase.Unrecoverable || exhausted ? error : null);
        var now = _time.GetUtcNow();
        Lifecycle.Publish(s => s with
        {
            Phase = phase,
            Exhausted = s.Exhausted || exhausted,
            LastError = error ?? s.LastError,
            TotalLagged = Ring.TotalLagged,
            DownSince = s.DownSince ?? now,
        });
        Published();
        if (phase == ConnectionPhase.Closed && !exhausted)
        {
            var final = Lifecycle.Current;
            Log.Closed(_logger, _options.Name, final.Epoch, final.Attempts, final.TotalLagged);
        }
    }

    // TransportException.ToString carries kind, codes and a composed message only (no URI, no inner message).
    private static string Describe(TransportException? error) => error?.ToString() ?? "none";

    private void Published() => _telemetry.Transition(Lifecycle.Current);

    private double CurrentDownSeconds() =>
        Lifecycle.Current.DownSince is { } since && !Lifecycle.Current.IsUp ? (_time.GetUtcNow() - since).TotalSeconds : 0;
}
