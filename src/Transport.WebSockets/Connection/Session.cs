using Microsoft.Extensions.Logging;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Liveness;
using Transport.WebSockets.Pacing;
using Transport.WebSockets.Reconnect;
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
    Task CloseCutShort)
{
    public string Name => Options.Name;
}

/// <summary>
/// One connected socket, one epoch: the receive loop, the write loop, the liveness watch, the
/// graceful close handshake and the disposal of the socket. The actor creates one per successful
/// connect and awaits <see cref="RunAsync"/>; the first reason to end (<see cref="End"/>) wins.
/// </summary>
/// <remarks>
/// <para>
/// Order inside <see cref="RunAsync"/>: (a session initializer would run here, on the socket, before
/// the up-edge and before any queued data is released) → the up-edge (<c>wentUp</c>) → receive,
/// write and watch loops → the first end → stop writing → close handshake unless the socket failed
/// → stop receiving → dispose. The per-frame work is in <see cref="OnFrame"/> (where per-frame stamping
/// goes; batches are drained around it, Session.S6) and the per-request write is one marked await in the write loop (where a
/// write timeout and at-most-once handling go).
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Session.S1 the socket is always drained: the receive loop never waits on the consumer; pressure is absorbed by the ring.</item>
/// <item>Session.S2 pongs and the control lane go before data, also under pacing (the window is waited for before the dequeue).</item>
/// <item>Session.S3 nothing is written after the close frame: the write loop stops before the close handshake starts.</item>
/// <item>Session.S4 on a graceful end, receiving continues through the close handshake (frames the peer sent before its close are delivered), bounded by CloseTimeout or the shutdown caller's token.</item>
/// <item>Session.S5 a frame taken but not written goes back to the head of its lane, unless it is a pong (meaningful only on this socket).</item>
/// <item>Session.S6 batch hand-off: after each awaited receive, the loop drains what the leaf already holds (<see cref="ILeafReceiver.TryReceive"/>, at most <see cref="MaxBatchFrames"/> frames / <see cref="MaxBatchBytes"/> bytes) and writes the batch's data frames to the ring under one lock with one wake-up, in arrival order; a ping's pong is queued before the batch's data is written; a close ends the session only after the data that preceded it in the batch was written.</item>
/// </list>
/// </remarks>
internal sealed class Session
{
    private readonly SessionServices _s;
    private readonly ILeafConnection _connection;
    private readonly TaskCompletionSource<SessionEnd> _end = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly LivenessWatch _liveness;

    public Session(SessionServices services, ILeafConnection connection, long epoch)
    {
        _s = services;
        _connection = connection;
        Epoch = epoch;
        _liveness = new LivenessWatch(services.Options.Liveness, services.Time, services.Phases, error => End(SessionEnd.Failed(error)));
    }

    /// <summary>The epoch this session serves.</summary>
    public long Epoch { get; }

    /// <summary>This session's liveness watch.</summary>
    public LivenessWatch Liveness => _liveness;

    /// <summary>Ends the session with <paramref name="end"/> unless it has already ended; any thread.</summary>
    public bool End(SessionEnd end) => _end.TrySetResult(end);

    /// <summary>Runs the session to its end and tears it down; returns the first reason it ended.</summary>
    /// <param name="wentUp">Publishes the up-edge; called once the session is ready to carry data.</param>
    public async Task<SessionEnd> RunAsync(Action wentUp)
    {
        // Seam: a session initializer (e.g. re-subscribe) runs here, before the up-edge and before
        // the write loop releases queued data.
        wentUp();

        using var receiveCts = new CancellationTokenSource();
        using var writeCts = new CancellationTokenSource();
        var receiving = ReceiveLoopAsync(_connection.Receiver, receiveCts.Token);
        var writing = WriteLoopAsync(_connection.Sender, writeCts.Token);
        var watching = _liveness.Enabled ? _liveness.RunAsync(receiveCts.Token) : Task.CompletedTask;

        var end = await _end.Task;

        // Session.S3: stop writing first; nothing may follow the close frame.
        writeCts.Cancel();
        await writing;
        if (end.Reason != SessionEndReason.Failed)
        {
            // Session.S4: keep receiving through the close handshake.
            await CloseGracefullyAsync(_connection.Sender, receiving, end.Reason == SessionEndReason.Shutdown ? "shutdown" : "reconnect");
        }

        receiveCts.Cancel();
        await receiving;
        await watching;
        await DisposeQuietlyAsync();
        return end;
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
                bool open = OnFrame(frame, batch, ref count, ref bytes);

                // Session.S6: whatever the leaf already parsed goes in the same batch.
                while (open && count < MaxBatchFrames && bytes < MaxBatchBytes && receiver.TryReceive(out frame))
                {
                    open = OnFrame(frame, batch, ref count, ref bytes);
                }

                _liveness.FrameArrived();
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
    private bool OnFrame(in Frame frame, Frame[] batch, ref int count, ref long bytes)
    {
        switch (frame.Kind)
        {
            case FrameKind.Text:
            case FrameKind.Binary:
                batch[count++] = frame;
                bytes += frame.Length;
                return true;
            case FrameKind.Ping:
                // Session.S2: answered through the pong lane, ahead of every queued frame, and
                // before the data of this batch reaches the ring (Session.S6).
                _s.Queue.EnqueuePong(Frame.Pong(frame.Payload));
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

        // Session.S1: never waits; a full ring evicts its oldest frames instead.
        var evicted = _s.Ring.WriteBatch(batch.AsSpan(0, count));
        batch.AsSpan(0, count).Clear();
        if (evicted > 0)
        {
            _s.Telemetry.Lagged(evicted);
            _s.Lag.Schedule();
        }
    }

    private async Task WriteLoopAsync(ILeafSender sender, CancellationToken cancellationToken)
    {
        var queue = _s.Queue;
        var pacer = _s.Pacer;
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

                // Pacer.P1: counted when its write starts (a requeued frame counts again when resent).
                pacer?.OnWriteStarting(current.Frame.Kind);

                // Seam: a write timeout and at-most-once handling of an interrupted write go here,
                // around this one await (kept inline: a helper async method would allocate per frame).
                await sender.SendAsync(current.Frame, cancellationToken);
                _s.Telemetry.FrameSent(current.Frame.Length);
                current.Succeed();
                current = null;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            ReturnUnsent(current);
        }
        catch (TransportException ex) when (ex.Kind == TransportErrorKind.Shutdown && _s.ShutdownRequested())
        {
            // The queue was closed by shutdown.
        }
        catch (Exception ex)
        {
            ReturnUnsent(current);
            End(SessionEnd.Failed(ConnectPolicy.Normalize(ex)));
        }
    }

    // Session.S5.
    private void ReturnUnsent(SendRequest? request)
    {
        if (request is not null && !request.IsPong)
        {
            _s.Queue.Requeue(request);
        }
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
