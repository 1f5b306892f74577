namespace VenueSimulator;

/// <summary>Why the simulator lost a connection; counted in <see cref="SimulatorStats"/>.</summary>
public enum DisconnectReason
{
    /// <summary>The client sent a close frame first.</summary>
    ClientClosed,
    /// <summary>The TCP connection died without a close handshake (client side or network).</summary>
    ClientAborted,
    /// <summary>Closed 1008 "rate limit": too many inbound messages in 1 s.</summary>
    RateLimited,
    /// <summary>Closed 1001: the maximum connection lifetime was reached.</summary>
    LifetimeExpired,
    /// <summary>Closed 1009: an inbound message exceeded the size limit.</summary>
    MessageTooBig,
    /// <summary>Aborted because the client did not answer a protocol ping in time.</summary>
    KeepAliveTimeout,
    /// <summary>Aborted by <see cref="VenueSimulatorHost.DropAllConnections"/>.</summary>
    Dropped,
    /// <summary>Aborted by the random chaos monkey.</summary>
    ChaosDropped,
    /// <summary>The simulator was shutting down.</summary>
    ServerShutdown,
}
