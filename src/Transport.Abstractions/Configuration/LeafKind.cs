namespace Transport;

/// <summary>
/// Which built-in leaf (the RFC 6455 client under the stack) a transport opens its sockets with
/// (<see cref="TransportOptions.Leaf"/>; configuration key <c>Leaf</c>). See the README's
/// "Choosing a leaf" and ADR 0008.
/// </summary>
public enum LeafKind
{
    /// <summary>
    /// The platform's <c>System.Net.WebSockets.ClientWebSocket</c>: one receive per message; pings
    /// and pongs are answered by the platform and invisible to the stack. The default before the
    /// Pipelines leaf passed its conformance suite (docs/adr/0008); one setting away.
    /// </summary>
    ClientWebSocket = 0,

    /// <summary>
    /// The System.IO.Pipelines leaf (the default): parses every whole frame of a socket read as one batch, surfaces
    /// pings, pongs and the handshake response's status and headers, and receives into pooled buffers
    /// in lease mode.
    /// </summary>
    Pipelines = 1,
}
