using Transport.WebSockets.Sending;

namespace Transport.WebSockets.Pacing;

/// <summary>
/// Paces what the writer sends with the venue's own rule, "at most <see cref="SendRateLimit.MaxFrames"/>
/// frames in any window of <see cref="SendRateLimit.Window"/>" (a <see cref="SlidingWindowLog"/>
/// on the injected <see cref="TimeProvider"/>'s monotonic timestamps), so tests advance a manual
/// clock and watch frames leave exactly when the rule allows.
/// </summary>
/// <remarks>
/// Which frames count: every frame of the control and data lanes; protocol pongs answering the
/// peer's pings when <see cref="SendRateLimit.CountPongs"/> is true (the default: Binance counts
/// PING and PONG frames toward its 5 messages per second). An uncounted pong never waits for the
/// window. Not counted (never written through the writer): the close frame of the close
/// handshake, and keep-alive pings the leaf sends by itself (<c>Liveness.KeepAliveInterval</c>).
/// Used by one writer at a time: the session initializer's direct writer (under its socket lock), then the write loop.
/// </remarks>
internal sealed class SendPacer
{
    private readonly SlidingWindowLog _log;
    private readonly TimeProvider _time;

    public SendPacer(SendRateLimit limit, TimeProvider time)
    {
        _time = time;
        _log = new SlidingWindowLog(limit.MaxFrames, limit.Window, time);
        CountPongs = limit.CountPongs;
    }

    /// <summary>Whether protocol pongs count toward the limit (and so may wait for it).</summary>
    public bool CountPongs { get; }

    /// <summary>Whether a frame of this kind counts toward the limit.</summary>
    public bool Counts(FrameKind kind) => CountPongs || kind != FrameKind.Pong;

    /// <summary>How long until the window allows one more counted send (zero: now); does not record it.</summary>
    public TimeSpan UntilAllowed() => _log.UntilAllowed();

    /// <summary>Waits until the window allows one more counted send (Pacer.P1); does not record it.</summary>
    public async ValueTask WaitForRoomAsync(CancellationToken cancellationToken)
    {
        // On the writer's path: awaits without ConfigureAwait(false) (ADR 0003).
        for (var wait = _log.UntilAllowed(); wait > TimeSpan.Zero; wait = _log.UntilAllowed())
        {
            await Task.Delay(wait, _time, cancellationToken);
        }
    }

    /// <summary>
    /// Before the writer takes its next frame: waits until the window allows a counted send, or,
    /// when pongs do not count, until a pong is queued (an uncounted pong never waits for the
    /// window). The writer then takes whatever has the highest priority now, so a pong that
    /// arrived during the wait still goes first.
    /// </summary>
    /// <param name="queue">The send queue.</param>
    /// <param name="cancellationToken">The writer's token.</param>
    public ValueTask BeforeTakeAsync(SendQueue queue, CancellationToken cancellationToken)
    {
        if (_log.UntilAllowed() == TimeSpan.Zero || (!CountPongs && queue.HasPong))
        {
            return default;
        }

        return CountPongs ? WaitForRoomAsync(cancellationToken) : WaitForRoomOrPongAsync(queue, cancellationToken);
    }

    private async ValueTask WaitForRoomOrPongAsync(SendQueue queue, CancellationToken cancellationToken)
    {
        // On the writer's path: awaits without ConfigureAwait(false) (ADR 0003).
        for (var wait = _log.UntilAllowed(); wait > TimeSpan.Zero; wait = _log.UntilAllowed())
        {
            var pong = queue.WhenPongQueued();
            if (pong.IsCompleted)
            {
                return;
            }

            using var delayCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delay = Task.Delay(wait, _time, delayCts.Token);
            var first = await Task.WhenAny(delay, pong);
            delayCts.Cancel(); // release the timer when the pong won
            cancellationToken.ThrowIfCancellationRequested();
            if (first == pong)
            {
                return;
            }
        }
    }

    /// <summary>Records the send of a frame whose write is starting, if its kind counts.</summary>
    /// <param name="kind">The frame's kind.</param>
    public void OnWriteStarting(FrameKind kind)
    {
        if (Counts(kind))
        {
            _log.Record();
        }
    }
}
