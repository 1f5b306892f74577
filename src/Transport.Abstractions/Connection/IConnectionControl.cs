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

    /// <summary>A trigger for forced reconnects; clone it to hand out.</summary>
    ReconnectTrigger ReconnectTrigger { get; }
}
