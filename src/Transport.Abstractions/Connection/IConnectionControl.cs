namespace Transport;

/// <summary>The control verbs of a reconnecting connection.</summary>
public interface IConnectionControl
{
    /// <summary>
    /// Terminal, single-owner shutdown: sends the close handshake best-effort within the
    /// configured bound, then completes unconditionally. The lifecycle publishes Closed and then
    /// completes. Calling it again (without a token) returns the same completion.
    /// </summary>
    /// <remarks>
    /// The token bounds the caller's wait, not the shutdown (the convention of
    /// System.Threading.Channels and Polly): when it fires before the connection has stopped, the
    /// returned task is cancelled at once, and shutdown carries on in the background until
    /// <see cref="ILifecycleChannel.Completion"/>; it also cuts the close handshake short. So a
    /// caller is never held hostage by a connect attempt stuck in user code (an auth source or a
    /// leaf that ignores its token); <c>Lifecycle.Completion</c> tells when the connection really ended.
    /// </remarks>
    /// <param name="cancellationToken">Bounds the wait; shutdown itself always proceeds.</param>
    /// <returns>Completes when the connection has stopped.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired before the connection stopped (shutdown continues).</exception>
    Task ShutdownAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Make-before-break rotation (for a venue's "going away" notice, or before a known session lifetime):
    /// opens the next socket under the connector's attempt gate, runs the session initializer on it, and only
    /// when it is up switches <c>Source</c> to it and closes the old socket with 1000. The lifecycle shows one
    /// epoch advance and no down-edge. While both sockets are open, frames with a dedupe key (the adapter's
    /// <see cref="FrameKeySelector"/>) are delivered once; frames without one come from the old socket until
    /// the switch, then from the new. If the next socket fails, the old one keeps serving and the result says
    /// <see cref="RotationOutcome.Failed"/>; if the old one dies first, the rotation becomes an ordinary
    /// reconnect served by the next socket (<see cref="RotationOutcome.Reconnected"/>). Calls made while a
    /// rotation runs join it. <see cref="ReconnectTrigger"/> keeps its meaning (break, then make).
    /// </summary>
    /// <param name="cancellationToken">Abandons the rotation if it fires before the switch (the next socket is closed, the old keeps serving); after the switch it only ends the wait.</param>
    /// <returns>How the rotation ended, once the old socket is closed (or the next one failed).</returns>
    /// <exception cref="NotSupportedException">The connection has no socket of its own to rotate (a relayed feed, a redundant connection: rotate its legs).</exception>
    Task<RotationResult> RotateAsync(CancellationToken cancellationToken = default);

    /// <summary>A trigger for forced reconnects; clone it to hand out.</summary>
    ReconnectTrigger ReconnectTrigger { get; }
}
