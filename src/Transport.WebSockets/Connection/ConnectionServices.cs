using Microsoft.Extensions.Logging;
using Transport.WebSockets.Reconnect;
using Transport.WebSockets.Telemetry;

namespace Transport.WebSockets.Connection;

/// <summary>
/// Everything a connection actor is built from, assembled and validated once by
/// <see cref="WebSocketTransportBuilder"/> and shared by every connection of a connector.
/// </summary>
internal sealed record ConnectionServices(
    TransportOptions Options,
    ILeafConnector Leaf,
    IAuthSource Auth,
    IFailureClassifier Classifier,
    TimeProvider Time,
    ISpawner Spawner,
    Func<double> Random,
    ILoggerFactory Loggers,
    ConnectionTelemetryFactory Telemetry)
{
    /// <summary>
    /// The connect-attempt cap shared by every connection of one connector (venues cap attempts per
    /// IP, not per socket); null when the cap is off.
    /// </summary>
    public AttemptRateGate? AttemptGate { get; init; } =
        Options.Reconnect.MaxAttemptsPerWindow is { } max ? new AttemptRateGate(max, Options.Reconnect.AttemptRateWindow, Time) : null;

    /// <summary>Runs on every new socket before queued data and the up-edge; null: none.</summary>
    public ISessionInitializer? Initializer { get; init; }

    /// <summary>Reads the dedupe key of a frame during a rotation's overlap; null: every frame is unkeyed.</summary>
    public FrameKeySelector? KeySelector { get; init; }

    /// <summary>The bounds of a rotation's dedupe window.</summary>
    public DedupeWindowOptions Dedupe { get; init; } = new();

    /// <summary>Chooses each attempt's endpoint; null: the configured URI with its failover list.</summary>
    public IEndpointProvider? Endpoints { get; init; }
}
