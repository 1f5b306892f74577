using System.Diagnostics.Metrics;

namespace Transport.WebSockets.Telemetry;

/// <summary>
/// Creates per-connection telemetry on one <see cref="Meter"/>: the one given (from
/// <c>IMeterFactory</c> when hosted) or a process-wide one named <see cref="TransportTelemetry.Name"/>.
/// </summary>
internal sealed class ConnectionTelemetryFactory
{
    private static readonly Meter SharedMeter = new(TransportTelemetry.Name);

    private readonly TransportMetrics _metrics;

    public ConnectionTelemetryFactory(Meter? meter = null)
    {
        Meter = meter ?? SharedMeter;
        _metrics = TransportMetrics.For(Meter);
    }

    public Meter Meter { get; }

    public ConnectionTelemetry Create(string connectionName, TimeProvider time, Func<int> ringDepth, Func<int> sendQueueDepth, Func<double> downSeconds) =>
        new(_metrics, time, connectionName, ringDepth, sendQueueDepth, downSeconds);
}
