namespace Transport;

/// <summary>The control verbs of a reconnecting connection.</summary>
public interface IConnectionControl
{
    /// <summary>
    /// Terminal, single-owner shutdown: sends the close handshake best-effort within the
    /// configured bound, then completes unconditionally. The lifecycle publishes Closed and then
    /// completes. Calling it again returns the same completion.
    /// </summary>
    /// <param name="cancellationToken">Cuts the close handshake short (shutdown still completes).</param>
    /// <returns>Completes when the actor has stopped.</returns>
    Task ShutdownAsync(CancellationToken cancellationToken = default);

    /// <summary>A trigger for forced reconnects; clone it to hand out.</summary>
    ReconnectTrigger ReconnectTrigger { get; }
}
