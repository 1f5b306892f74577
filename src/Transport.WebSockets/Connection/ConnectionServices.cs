using Microsoft.Extensions.Logging;
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
    /// <summary>Runs on every new socket before queued data and the up-edge; null: none.</summary>
    public ISessionInitializer? Initializer { get; init; }

    /// <summary>Chooses each attempt's endpoint; null: the configured URI with its failover list.</summary>
    public IEndpointProvider? Endpoints { get; init; }
}
