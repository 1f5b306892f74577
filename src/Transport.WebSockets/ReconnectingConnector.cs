using Microsoft.Extensions.Logging;
using Transport.WebSockets.Connection;
using Transport.WebSockets.Telemetry;

namespace Transport.WebSockets;

/// <summary>
/// The assembled stack: each <see cref="ConnectAsync"/> starts one connection actor over the leaf
/// connector. Build it with <see cref="WebSocketTransportBuilder"/> or through DI
/// (<c>AddWebSocketTransport</c>).
/// </summary>
public sealed class ReconnectingConnector : IReconnectingConnector
{
    private readonly TransportOptions _options;
    private readonly ILeafConnector _leaf;
    private readonly IAuthSource _auth;
    private readonly IFailureClassifier _classifier;
    private readonly TimeProvider _time;
    private readonly ISpawner _spawner;
    private readonly Func<double> _random;
    private readonly ILoggerFactory _loggers;
    private readonly ConnectionTelemetryFactory _telemetry;

    internal ReconnectingConnector(
        TransportOptions options,
        ILeafConnector leaf,
        IAuthSource auth,
        IFailureClassifier classifier,
        TimeProvider time,
        ISpawner spawner,
        Func<double> random,
        ILoggerFactory loggers,
        ConnectionTelemetryFactory telemetry)
    {
        _options = options;
        _leaf = leaf;
        _auth = auth;
        _classifier = classifier;
        _time = time;
        _spawner = spawner;
        _random = random;
        _loggers = loggers;
        _telemetry = telemetry;
    }

    /// <summary>The validated options every connection of this connector uses.</summary>
    public TransportOptions Options => _options.Clone();

    /// <inheritdoc />
    public ValueTask<ReconnectingConnection> ConnectAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var logger = _loggers.CreateLogger("Transport.WebSockets.Connection." + _options.Name);
        var actor = new ConnectionActor(_options, _leaf, _auth, _classifier, _time, _spawner, _random, _telemetry, logger);
        var connection = new ReconnectingConnection(_options.Name, actor.Sink, actor.Source, actor.Lifecycle, new ConnectionControl(actor));
        actor.Start();
        return ValueTask.FromResult(connection);
    }
}
