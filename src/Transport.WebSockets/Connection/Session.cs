using Microsoft.Extensions.Logging;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Initialization;
using Transport.WebSockets.Liveness;
using Transport.WebSockets.Pacing;
using Transport.WebSockets.Reconnect;
using Transport.WebSockets.Rotation;
using Transport.WebSockets.Sending;
using Transport.WebSockets.Telemetry;

namespace Transport.WebSockets.Connection;

/// <summary>What every session of one connection shares; built once by the actor.</summary>
internal sealed record SessionServices(
    TransportOptions Options,
    TimeProvider Time,
    ILogger Logger,
    DropOldestRing Ring,
    SendQueue Queue,
    SendPacer? Pacer,
    EpochFence Fence,
    PhaseMachine Phases,
    ConnectionTelemetry Telemetry,
    LagReporter Lag,
    Func<bool> ShutdownRequested,
    Task CloseCutShort,
    RotationOverlap Overlap)
{
    public string Name => Options.Name;

    /// <summary>Runs on every new socket before the up-edge and before queued data; null: none.</summary>
    public ISessionInitializer? Initializer { get; init; }

    /// <summary>The connection's sink: where the session context's pinned sends go once the initializer is done.</summary>
    public IFrameSink? ConnectionSink { get; init; }
}

/// <summary>
/// One connected socket, one epoch: the receive loop, the write loop, the liveness watch, the
/// graceful close handshake and the disposal of the socket. The actor creates one per successful
/// connect and awaits <see cref="RunAsync"/>; the first reason to end (<see cref="End"/>) wins.
/// </summary>
/// <remarks>
/// <para>
/// Order inside <see cref="RunAsync"/>: the write watchdog starts → the receive loop starts (its data
/// frames held, Session.S9) → the session initializer runs on the socket (its frames written directly,
/// queued data held back) → the up-edge (<c>wentUp</c>) → the held frames go to the ring → write and
/// watch loops → the first end → stop writing → close handshake unless the socket failed → stop
/// receiving → dispose. A failed initializer ends the session before the up-edge (its held frames are
/// dropped and counted as lagged). Without an initializer the up-edge comes first, then receiving. The per-frame work is in <see cref="OnFrame"/> (epoch and receive-time stamping; batches are drained around it, Session.S6) and the per-request write is one marked await in the write loop (where a
/// write timeout and at-most-once handling go).
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Session.S1 the socket is always drained: the receive loop never waits on the consumer; pressure is absorbed by the ring.</item>
/// <item>Session.S2 pongs and the control lane go before data, also under pacing (the window is waited for before the dequeue).</item>
/// <item>Session.S3 nothing is written after the close frame: the write loop stops before the close handshake starts.</item>
/// <item>Session.S4 on a graceful end, receiving continues through the close handshake (frames the peer sent before its close are delivered), bounded by CloseTimeout or the shutdown caller's token.</item>
/// <item>Session.S5 a frame taken but not written goes back to the head of its lane (at-least-once) or fails with WriteInterrupted (at-most-once, Write.W2), unless it is a pong (meaningful only on this socket).</item>
/// <item>Session.S6 batch hand-off: after each awaited receive, the loop drains what the leaf already holds (<see cref="ILeafReceiver.TryReceive"/>, at most <see cref="MaxBatchFrames"/> frames / <see cref="MaxBatchBytes"/> bytes) and writes the batch's data frames to the ring (before the up-edge: to the hold, Session.S9) under one lock with one wake-up, in arrival order; a ping's pong is queued before the batch's data is written; a close ends the session only after the data that preceded it in the batch was written.</item>
/// <item>Session.S8 every frame received on this socket carries its epoch (and a receive time when the leaf gave none), without allocating (test: S6_frame_read_after_reconnect_reports_the_epoch_it_arrived_on).</item>
/// <item>Session.S7 no queued data frame is written and no up-edge is published before the session initializer completed (test: I1_queued_order_never_precedes_the_login).</item>
/// <item>Session.S9 no frame before its up-edge: a data frame of epoch N reaches the ring only after the up-edge of N was published, so a consumer that reads it finds <c>Lifecycle.Current</c> up on epoch N or later. Frames received while the initializer runs are offered to its waits as they arrive and held (<see cref="UpEdgeHold"/>, bounded like the ring, drops counted as lagged), then written to the ring in arrival order right after the edge; a socket that never goes up drops them, counted as lagged and logged, leases released (tests: Item7_a_consumer_reading_a_frame_of_epoch_N_finds_the_up_edge_of_N_published_over_many_reconnects, Item7_no_frame_of_epoch_N_is_readable_before_the_edge_of_N_for_any_schedule, Item7_frames_of_a_socket_whose_initializer_failed_are_dropped_counted_and_logged).</item>
/// </list>
/// </remarks>
internal sealed class Session
{
    private readonly SessionServices _s;
    private readonly ILeafConnection _connection;
    private readonly TaskCompletionSource<SessionEnd> _end = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _ending = new();
    private readonly LivenessWatch _liveness;
    private readonly WriteWatchdog? _watchdog;
    private readonly SessionInitialization? _init;
    private readonly UpEdgeHold? _hold;
    private readonly object _endGate = new();
    private readonly TaskCompletionSource _writingStopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _ended;
    private volatile bool _rotatedAway;
    private bool _initFailed;

    public Session(SessionServices services, ILeafConnection connection, long epoch, SessionInfo info)
    {
        _s = services;
        _connection = connection;
        Epoch = epoch;
        Info = info;
        _liveness = new LivenessWatch(services.Options.Liveness, info.Capabilities, services.Time, services.Phases,
            (error, lastSignOfLife) => End(SessionEnd.Failed(error), lastSignOfLife));
        if (_liveness.DeadAfterIgnored)
        {
            InitializationLog.DeadAfterNotApplied(services.Logger, services.Name, epoch, info.Capabilities);
        }

        _watchdog = services.Options.Send.WriteTimeout is { } writeTimeout ? new WriteWatchdog(writeTimeout, services.Time) : null;
        if (services.Initializer is not null)
        {
            _init = new SessionInitialization(
                epoch, info, connection.Handshake, connection.Sender, services.Pacer, _watchdog, services.ConnectionSink!, services.Time, services.Logger, services.Name,
                error => End(SessionEnd.Failed(error)),
                pong => services.Queue.EnqueuePong(pong));

            // Session.S9: what arrives while the initializer runs waits for the edge, within the ring's bounds.
            _hold = new UpEdgeHold(services.Ring.CapacityFrames, services.Ring.CapacityBytes);
        }
    }

    /// <summary>The epoch this session serves.</summary>
    public long Epoch { get; }

    /// <summary>The facts of this socket.</summary>
    public SessionInfo Info { get; }

    /// <summary>This session's liveness watch.</summary>
    public LivenessWatch Liveness => _liveness;

    /// <summary>
    /// Rotation: awaited after the session initializer and before the up-edge (the switch, or the wait for the
    /// actor's hand-over when the old socket died first); null: none.
    /// </summary>
    public Func<Task>? BeforeUp { get; set; }

    /// <summary>Rotation: the write loop starts only once this completes (the old socket's writer has stopped); null: at once.</summary>
    public Task? WriteAfter { get; set; }

    /// <summary>Completes once this session's write loop has stopped for good (or never started).</summary>
    public Task WritingStopped => _writingStopped.Task;

    /// <summary>When the socket was connected (the handshake returned): the start of a rotation's overlap.</summary>
    public long ConnectedAt { get; init; }

    /// <summary>Whether <see cref="End"/> was called.</summary>
    public bool HasEnded
    {
        get
        {
            lock (_endGate)
            {
                return _ended;
            }
        }
    }

    /// <summary>Whether the up-edge was published (false when the initializer failed or the session ended first).</summary>
    public bool WentUp { get; private set; }

    /// <summary>
    /// Data frames this socket handed to the ring (Budget.B6: a session that delivered data is a success
    /// for MaxAttempts). Written by the receive loop only; read once <see cref="RunAsync"/> has returned.
    /// </summary>
    public long DataFramesDelivered { get; private set; }

    /// <summary>
    /// When the feed went down: the last sign of life when a liveness timeout ended the session
    /// (Liveness.L6), else the moment the end was first signalled (before close and dispose). Set
    /// before <see cref="RunAsync"/> returns.
    /// </summary>
    public DateTimeOffset DownSince { get; private set; }

    /// <summary>Ends the session with <paramref name="end"/> unless it has already ended; any thread.</summary>
    /// <param name="end">The reason.</param>
    /// <param name="downSince">The last sign of life, when known better than "now".</param>
    public bool End(SessionEnd end, DateTimeOffset? downSince = null)
    {
        lock (_endGate)
        {
            if (_ended)
            {
                return false;
            }

            _ended = true;
            _rotatedAway = end.Reason == SessionEndReason.Rotated;
            DownSince = downSince ?? _s.Time.GetUtcNow();
        }

        _end.TrySetResult(end);
        _init?.End(end.Error ?? TransportException.Connection($"The session of epoch {Epoch} ended ({end.Reason})."));
        _ending.Cancel();
        return true;
    }

    /// <summary>Runs the session to its end and tears it down; returns the first reason it ended.</summary>
    /// <param name="wentUp">Publishes the up-edge; called once the session is ready to carry data.</param>
    public async Task<SessionEnd> RunAsync(Action wentUp)
    {
        using var receiveCts = new CancellationTokenSource();
        using var writeCts = new CancellationTokenSource();
        using var watchCts = new CancellationTokenSource();
        var writing = Task.CompletedTask;
        var watching = Task.CompletedTask;

        // Write.W1, Init.I8: a write stalled past Send.WriteTimeout ends the session (the initializer's
        // writes too); cancelling the writer then aborts the write (the leaf contract: a cancelled send
        // gives the socket up).
        var guarding = _watchdog is null ? Task.CompletedTask : _watchdog.RunAsync(WriteStalled, writeCts.Token);

        Task receiving;
        if (_init is not null && _s.Initializer is { } initializer)
        {
            // Session.S9: frames received from now until the edge are held (the initializer's waits see them).
            receiving = ReceiveLoopAsync(_connection.Receiver, receiveCts.Token);

            // Session.S7: the initializer runs on the socket before the up-edge and before the write loop.
            var failure = await _init.RunAsync(initializer, _s.Options.Session.InitializeTimeout, _ending.Token);
            if (failure is not null && End(SessionEnd.Failed(failure)))
            {
                // Published now, not after the polite close below (which may take CloseTimeout).
                _initFailed = true;
                _s.Phases.Update(s => s with { LastError = failure });
            }

            await BeforeUpAsync();
            GoUpUnlessEnded(wentUp);
        }
        else
        {
            // Session.S9: nothing to wait for, so the edge comes before the first frame can be received.
            await BeforeUpAsync();
            GoUpUnlessEnded(wentUp);
            receiving = ReceiveLoopAsync(_connection.Receiver, receiveCts.Token);
        }

        if (WentUp)
        {
            if (WriteAfter is { } previousWriter)
            {
                // Rotation.T2: one writer at a time; the old socket's frame in flight goes back to the queue first (Session.S5).
                await previousWriter;
            }

            writing = _end.Task.IsCompleted ? Task.CompletedTask : WriteLoopAsync(_connection.Sender, writeCts.Token);
            watching = _liveness.Enabled ? _liveness.RunAsync(watchCts.Token) : Task.CompletedTask;
        }

        var end = await _end.Task;
        if (end.Reason == SessionEndReason.Rotated)
        {
            // Rotation.T1: the phase now belongs to the next socket; this one's liveness must not mark it Stale.
            watchCts.Cancel();
        }

        // Session.S3: stop writing first; nothing may follow the close frame.
        writeCts.Cancel();
        await writing;
        await guarding;
        _writingStopped.TrySetResult();
        if (end.Reason != SessionEndReason.Failed || _initFailed)
        {
            // Session.S4: keep receiving through the close handshake (also after a rejected login: the socket is fine).
            await CloseGracefullyAsync(_connection.Sender, receiving, end.Reason switch
            {
                SessionEndReason.Shutdown => "shutdown",
                SessionEndReason.Forced => "reconnect",
                SessionEndReason.Rotated => "rotated",
                _ => "session initializer failed",
            });
        }

        receiveCts.Cancel();
        watchCts.Cancel();
        await receiving;
        await watching;
        if (!WentUp)
        {
            // Session.S9: no edge, so the held frames are never delivered; nothing is received any more.
            DropHeld(end);
        }

        await DisposeQuietlyAsync();

        // _ending is not disposed: End may still be cancelling it on another thread (it holds no timer).
        return end;
    }

    private async Task BeforeUpAsync()
    {
        if (BeforeUp is { } before && !_end.Task.IsCompleted)
        {
            await before();
        }
    }

    // Publishes the up-edge unless the session already ended, then releases the held frames behind it
    // (Session.S9: the snapshot first, so a consumer reading one of them already sees this epoch up).
    private void GoUpUnlessEnded(Action wentUp)
    {
        if (_end.Task.IsCompleted)
        {
            return;
        }

        WentUp = true;
        wentUp();
        if (_hold is not null)
        {
            // Rotation.T5: held frames arrived before the switch; during an overlap they pass its filter (the switch
            // came first, in wentUp: they are the new socket's, delivered after the old socket's).
            CountLagged(_hold.Release(batch => _s.Overlap.Write(_s.Ring, batch, Epoch, now: 0)), beforeAdmission: false);
        }
    }

    private void WriteStalled(TransportException error) =>
        End(SessionEnd.Failed(_init is { IsDirect: true } && _s.Options.Send.WriteTimeout is { } bound ? SessionInitialization.WriteStalled(bound) : error));

    // Session.S9: a socket that never went up: what it held is dropped, counted and logged (Hold.H3).
    private void DropHeld(SessionEnd end)
    {
        if (_hold is null)
        {
            return;
        }

        var dropped = _hold.Drop();
        if (dropped > 0)
        {
            InitializationLog.HeldFramesDropped(_s.Logger, _s.Name, dropped, Epoch, end.Error is { } error ? $"{end.Reason}, {error.Kind}" : end.Reason.ToString());
            CountLagged(dropped, beforeAdmission: true);
        }
    }

    // Frames dropped for pressure or before the edge: the consumer learns of them through TotalLagged.
    private void CountLagged(int frames, bool beforeAdmission)
    {
        if (frames <= 0)
        {
            return;
        }

        if (beforeAdmission)
        {
            _s.Ring.CountDroppedBeforeAdmission(frames);
        }

        _s.Telemetry.Lagged(frames);
        _s.Lag.Schedule();
    }

    /// <summary>Most frames handed to the ring in one batch (Session.S6): bounds the delay a batch adds to its first frame.</summary>
    internal const int MaxBatchFrames = 64;

    /// <summary>Most payload bytes in one batch (Session.S6); the frame that crosses it is still included.</summary>
    internal const long MaxBatchBytes = 256 * 1024;

    private async Task ReceiveLoopAsync(ILeafReceiver receiver, CancellationToken cancellationToken)
    {
        // One reusable batch per session; slots are cleared after each hand-off so the session
        // never keeps a payload alive once the ring (or the consumer) has it.
        var batch = new Frame[MaxBatchFrames];
        try
        {
            while (true)
            {
                var frame = await receiver.ReceiveAsync(cancellationToken);
                int count = 0;
                long bytes = 0;
                long takenAt = 0; // one clock read per batch at most, for frames the leaf did not stamp
                bool open = OnFrame(frame, batch, ref count, ref bytes, ref takenAt);

                // Session.S6: whatever the leaf already parsed goes in the same batch.
                while (open && count < MaxBatchFrames && bytes < MaxBatchBytes && receiver.TryReceive(out frame))
                {
                    open = OnFrame(frame, batch, ref count, ref bytes, ref takenAt);
                }

                // Liveness.L3, Liveness.L4: one timestamp per batch; only data clears Stale.
                if (!_rotatedAway)
                {
                    _liveness.FrameArrived(isData: count > 0);
                }

                HandOff(batch, count, bytes);
                if (!open)
                {
                    // Session.S6: the close ends the session after the data that preceded it.
                    End(SessionEnd.Failed(TransportException.ClosedByPeer(frame.CloseCode, frame.CloseReason)));
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
            End(SessionEnd.Failed(ConnectPolicy.Normalize(ex)));
        }
    }

    /// <summary>Sorts one received frame into the batch; false when it is the peer's close (which ends the batch and the session).</summary>
    private bool OnFrame(in Frame frame, Frame[] batch, ref int count, ref long bytes, ref long takenAt)
    {
        switch (frame.Kind)
        {
            case FrameKind.Text:
            case FrameKind.Binary:
                // Session.S8: the frame says which socket it came on (struct copies, no allocation).
                var stamped = frame.WithEpoch(Epoch);
                if (stamped.ReceivedAt == 0)
                {
                    // A leaf that does not stamp the completion time (the ClientWebSocket leaf's TryReceive):
                    // stamp it as its batch is taken. One clock read per batch, not per frame: a clock read
                    // costs about 0.2 µs on this project's KVM machine, more than the rest of the hand-off.
                    if (takenAt == 0)
                    {
                        takenAt = _s.Time.GetTimestamp();
                    }

                    stamped = stamped.WithReceivedAt(takenAt);
                }

                batch[count++] = stamped;
                bytes += stamped.Length;
                _init?.OnDataFrame(stamped);
                return true;
            case FrameKind.Ping:
                // Session.S2: answered through the pong lane, ahead of every queued frame and before
                // the data of this batch reaches the ring (Session.S6); while the initializer runs
                // (the write loop not started yet) straight on the socket.
                var pong = Frame.Pong(frame.Payload);
                if (_init is null || !_init.TryAnswerPing(pong))
                {
                    _s.Queue.EnqueuePong(pong);
                }

                return true;
            case FrameKind.Close:
                return false;
            default:
                return true;
        }
    }

    /// <summary>Writes the batch's data frames to the ring: one lock, at most one wake-up, telemetry once per batch.</summary>
    private void HandOff(Frame[] batch, int count, long bytes)
    {
        if (count == 0)
        {
            return;
        }

        _s.Telemetry.FramesReceived(count, bytes);
        DataFramesDelivered += count;

        // Session.S9: before the up-edge the batch is held (bounded like the ring, Hold.H2).
        if (_hold is not null && _hold.TryHold(batch.AsSpan(0, count), out var dropped))
        {
            batch.AsSpan(0, count).Clear();
            CountLagged(dropped, beforeAdmission: true);
            return;
        }

        // Session.S1: never waits; a full ring evicts its oldest frames instead.
        var evicted = _s.Overlap.Write(_s.Ring, batch.AsSpan(0, count), Epoch, now: 0);
        batch.AsSpan(0, count).Clear();
        CountLagged(evicted, beforeAdmission: false);
    }

    private async Task WriteLoopAsync(ILeafSender sender, CancellationToken cancellationToken)
    {
        var queue = _s.Queue;
        var pacer = _s.Pacer;
        var watchdog = _watchdog;
        SendRequest? current = null;

        try
        {
            while (true)
            {
                await queue.WaitToReadAsync(cancellationToken);

                // Session.S2 under pacing: wait for the window first, then take whatever has the
                // highest priority now, so a pong that arrived during the wait still goes first.
                if (pacer is not null)
                {
                    await pacer.BeforeTakeAsync(queue, cancellationToken);
                }

                if (!queue.TryDequeue(out current))
                {
                    continue; // a cancelled send was withdrawn meanwhile
                }

                if (!_s.Fence.AdmitToWrite(current, Epoch))
                {
                    current = null;
                    continue;
                }

                if (current.Batch is not null)
                {
                    // Batch.B1: the writer stays inside the batch until its last frame.
                    var batch = current;
                    current = null; // settled by WriteBatchAsync, never requeued here
                    await WriteBatchAsync(sender, batch, cancellationToken);
                    continue;
                }

                // Write.W1: stamped around this one await (kept inline: a helper async method
                // would allocate per frame).
                watchdog?.Started();
                try
                {
                    await sender.SendAsync(current.Frame, cancellationToken);
                }
                finally
                {
                    // Pacer.P4: counted when its write ends, completed or not (a requeued frame
                    // counts again when resent).
                    pacer?.OnWriteEnded(current.Frame.Kind);
                }

                watchdog?.Completed();
                _s.Telemetry.FrameSent(current.Frame.Length);
                current.Succeed();
                current = null;
            }
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            ReturnUnsent(current, ex);
        }
        catch (TransportException ex) when (ex.Kind == TransportErrorKind.Shutdown && _s.ShutdownRequested())
        {
            // The queue was closed by shutdown.
        }
        catch (Exception ex)
        {
            ReturnUnsent(current, ex);
            End(SessionEnd.Failed(ConnectPolicy.Normalize(ex)));
        }
    }

    // Batch.B1-B4 (stated in Sending/FrameSink.cs): writes a batch's frames back to back. The window
    // already allowed the first; under pacing each later frame waits for the window inside the batch,
    // with nothing else dequeued meanwhile, and every frame is recorded when its write ends (Pacer.P4).
    // If the socket fails before the first write completes, the batch goes back whole to the head of its
    // lane (B2); after that, it fails with the exact count written (B3). The error is rethrown either
    // way: the session is over.
    private async Task WriteBatchAsync(ILeafSender sender, SendRequest request, CancellationToken cancellationToken)
    {
        var frames = request.Batch!;
        var pacer = _s.Pacer;
        var written = 0;
        try
        {
            for (; written < frames.Length; written++)
            {
                if (written > 0 && pacer is not null)
                {
                    await pacer.WaitForRoomAsync(cancellationToken);
                }

                _watchdog?.Started(); // Write.W1 applies to every frame of a batch
                try
                {
                    await sender.SendAsync(frames[written], cancellationToken);
                }
                finally
                {
                    pacer?.OnWriteEnded(frames[written].Kind); // Pacer.P4
                }

                _watchdog?.Completed();
                _s.Telemetry.FrameSent(frames[written].Length);
            }

            request.Succeed();
        }
        catch (Exception ex)
        {
            if (written == 0)
            {
                // Nothing of the batch reached the peer whole: resent whole (at-least-once) or
                // failed with WriteInterrupted (at-most-once), as for a single frame (Write.W2).
                ReturnUnsent(request, ex);
            }
            else
            {
                var cause = ex is OperationCanceledException
                    ? TransportException.Connection("The session ended in the middle of a batch.")
                    : ConnectPolicy.Normalize(ex);
                _s.Fence.Fail(request, new SendBatchException(written, frames.Length, cause));
            }

            throw;
        }
    }

    // Session.S5 and Write.W2: a frame whose write started and did not complete goes back to the
    // head of its lane (at-least-once), or fails with WriteInterrupted (at-most-once); a pong is
    // dropped (meaningful only on this socket).
    private void ReturnUnsent(SendRequest? request, Exception cause)
    {
        if (request is null || request.IsPong)
        {
            return;
        }

        if (request.Options.Delivery == SendDelivery.AtMostOnce)
        {
            _s.Fence.Fail(request, TransportException.WriteInterrupted(cause));
            return;
        }

        _s.Queue.Requeue(request);
    }

    private async Task CloseGracefullyAsync(ILeafSender sender, Task receiving, string reason)
    {
        // Bounded by CloseTimeout on the injected clock, or cut short by the shutdown caller's token.
        using var bound = new CancellationTokenSource(_s.Options.CloseTimeout, _s.Time);
        var timedOut = Task.Delay(Timeout.InfiniteTimeSpan, bound.Token);
        var close = CloseQuietlyAsync(sender, reason, bound.Token);
        await Task.WhenAny(close, timedOut, _s.CloseCutShort);
        if (close.IsCompleted)
        {
            // The receive loop ends when the peer's close arrives (or the socket fails).
            await Task.WhenAny(receiving, timedOut, _s.CloseCutShort);
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
            Log.CloseIncomplete(_s.Logger, _s.Name, ex.GetType().Name);
        }
    }

    private async Task DisposeQuietlyAsync()
    {
        try
        {
            await _connection.DisposeAsync();
        }
        catch (Exception ex)
        {
            Log.DisposeFailed(_s.Logger, _s.Name, ex.GetType().Name);
        }
    }
}
