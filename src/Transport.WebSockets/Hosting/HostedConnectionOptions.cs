namespace Transport.WebSockets;

/// <summary>
/// How the host owns a connection registered with <c>AddWebSocketTransport(name).AddHostedConnection(...)</c>
/// (named options under the transport's name).
/// </summary>
public sealed class HostedConnectionOptions
{
    /// <summary>
    /// Null (the default): the host's start returns once the connection is started (phase Connecting),
    /// so an app whose venue is down still starts, and says so through its lifecycle and health check.
    /// Set: the host's start waits up to this long for the first up-edge (Connected) before any hosted
    /// service of the app starts, and fails (the host does not start) when the connection ends
    /// Unrecoverable or Closed first, or the time runs out; the error names the connection, its phase,
    /// attempts and the last error's kind.
    /// </summary>
    public TimeSpan? StartTimeout { get; set; }
}
