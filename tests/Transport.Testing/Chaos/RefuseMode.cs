namespace Transport.Testing.Chaos;

/// <summary>How <see cref="ChaosProxy.RefuseNewConnections"/> turns new connections away.</summary>
public enum RefuseMode
{
    /// <summary>
    /// Close the listening socket, so the OS answers a connect with RST and the client's connect fails
    /// (connection refused). Turning refusal off re-binds the SAME port (SO_REUSEADDR). Nothing is counted:
    /// the proxy never sees the attempts. Models "the venue is down".
    /// </summary>
    CloseListener,

    /// <summary>
    /// Keep listening, accept each connection and reset it at once (linger 0, close). The client's connect
    /// succeeds and its first read fails with a reset. Each attempt counts in <see cref="ChaosProxy.RefusedCount"/>.
    /// Models a load balancer that accepts and drops.
    /// </summary>
    AcceptAndReset,
}
