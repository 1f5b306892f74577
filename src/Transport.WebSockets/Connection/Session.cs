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
/// and batch draining go) and the per-request write is one marked await in the write loop (where a
/// write timeout and at-most-once handling go).
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Session.S1 the socket is always drained: the receive loop never waits on the consumer; pressure is absorbed by the ring.</item>
/// <item>Session.S2 pongs and the control lane go before data, also under pacing (the window is waited for before the dequeue).</item>
/// <item>Session.S3 nothing is written after the close frame: the write loop stops before the close handshake starts.</item>
/// <item>Session.S4 on a graceful end, receiving continues through the close handshake (frames the peer sent before its close are delivered), bounded by CloseTimeout or the shutdown caller's token.</item>
/// <item>Session.S5 a frame taken but not written goes back to the head of its lane, unless it is a pong (meaningful only on this socket).</item>
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

    private async Task ReceiveLoopAsync(ILeafReceiver receiver, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var frame = await receiver.ReceiveAsync(cancellationToken);
                if (!OnFrame(frame))
                {
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

    /// <summary>Handles one received frame; false when it ends the session (a close frame).</summary>
    private bool OnFrame(Frame frame)
    {
        _liveness.FrameArrived();
        switch (frame.Kind)
        {
            case FrameKind.Text:
            case FrameKind.Binary:
                _s.Telemetry.FrameReceived(frame.Length);

                // Session.S1: never waits; a full ring evicts its oldest frame instead.
                var evicted = _s.Ring.Write(frame);
                if (evicted > 0)
                {
                    _s.Telemetry.Lagged(evicted);
                    _s.Lag.Schedule();
                }

                return true;
            case FrameKind.Ping:
                // Session.S2: answered through the pong lane, ahead of every queued frame.
                _s.Queue.EnqueuePong(Frame.Pong(frame.Payload));
                return true;
            case FrameKind.Close:
                End(SessionEnd.Failed(TransportException.ClosedByPeer(frame.CloseCode, frame.CloseReason)));
                return false;
            default:
                return true;
        }
    }

    private async Task WriteLoopAsync(ILeafSender sender, CancellationToken cancellationToken)
    {
        var queue = _s.Queue;
        var pacer = _s.Pacer;
        SendRequest? current = null;

        // Once per session, not per wait: the queue's wait then allocates nothing, and
        // cancelling the writer at session end still fails a pending wait at once.
        using var wakeOnCancel = queue.RegisterWriterCancellation(cancellationToken);
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
