using System.Diagnostics.Metrics;

namespace Transport.WebSockets.Telemetry;

/// <summary>Creates per-connection telemetry on one <see cref="Meter"/> (from <c>IMeterFactory</c> when hosted).</summary>
internal sealed class ConnectionTelemetryFactory
{
    private static readonly Meter SharedMeter = new(TransportTelemetry.Name);

    public ConnectionTelemetryFactory(Meter? meter = null) => Meter = meter ?? SharedMeter;

    public Meter Meter { get; }

    public ConnectionTelemetry Create(string connectionName, Func<int> ringDepth, Func<int> sendQueueDepth, Func<double> downSeconds) =>
        new(Meter, connectionName, ringDepth, sendQueueDepth, downSeconds);
}
