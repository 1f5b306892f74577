using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Transport.WebSockets.Telemetry;

/// <summary>
/// The transport's instruments on one <see cref="Meter"/>, created once per Meter and shared by
/// every connection on it; connections are told apart by the <see cref="TransportTelemetry.ConnectionTag"/> tag.
/// </summary>
/// <remarks>
/// Why one set per Meter: creating the same instrument name again on a shared Meter yields a
/// second instrument, so a listener would see duplicates and gauges of dead connections would be
/// observed forever. The observable gauges instead enumerate the connections alive now
/// (registered by <see cref="ConnectionTelemetry"/> and removed when it is disposed).
/// </remarks>
internal sealed class TransportMetrics
{
    // Meters from IMeterFactory are distinct instances; the table keys on the instance and lets it be collected.
    private static readonly ConditionalWeakTable<Meter, TransportMetrics> PerMeter = new();

    private readonly Lock _gate = new();

    // Guarded by _gate. Copy-on-write so the gauge callbacks enumerate without holding the lock.
    private ConnectionTelemetry[] _live = [];

    private TransportMetrics(Meter meter)
    {
        FramesReceived = meter.CreateCounter<long>(TransportTelemetry.FramesReceived, "{frame}", "Data frames read from sockets.");
        BytesReceived = meter.CreateCounter<long>(TransportTelemetry.BytesReceived, "By", "Payload bytes of data frames read from sockets.");
        FramesSent = meter.CreateCounter<long>(TransportTelemetry.FramesSent, "{frame}", "Frames written to sockets (data, control and pongs).");
        BytesSent = meter.CreateCounter<long>(TransportTelemetry.BytesSent, "By", "Payload bytes written to sockets.");
        FramesLagged = meter.CreateCounter<long>(TransportTelemetry.FramesLagged, "{frame}", "Data frames dropped unread: evicted for the receive ring's bounds (also while held for their up-edge), or held for an up-edge that never came (signalled in TotalLagged).");
        Reconnects = meter.CreateCounter<long>(TransportTelemetry.Reconnects, "{reconnect}", "Completed down-cycles (epoch advances).");
        Attempts = meter.CreateCounter<long>(TransportTelemetry.ConnectAttempts, "{attempt}", "Connect attempts, successful or not.");
        TimeDown = meter.CreateHistogram<double>(
            TransportTelemetry.TimeDown,
            "s",
            "Duration of each completed down-cycle.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = TransportTelemetry.DownDurationBuckets });
        meter.CreateObservableGauge(TransportTelemetry.RingDepth, () => Observe(static c => c.RingDepth()), "{frame}", "Frames buffered in the receive ring.");
        meter.CreateObservableGauge(TransportTelemetry.SendQueueDepth, () => Observe(static c => c.SendQueueDepth()), "{frame}", "Frames waiting in the send queue.");
        meter.CreateObservableGauge(TransportTelemetry.CurrentDownSeconds, () => Observe(static c => c.DownSeconds()), "s", "Seconds the feed has been down now (0 while up).");
        meter.CreateObservableUpDownCounter(TransportTelemetry.ActiveConnections, () => Observe(static _ => 1), "{connection}", "Connections started and not yet terminal.");
    }

    public Counter<long> FramesReceived { get; }

    public Counter<long> BytesReceived { get; }

    public Counter<long> FramesSent { get; }

    public Counter<long> BytesSent { get; }

    public Counter<long> FramesLagged { get; }

    public Counter<long> Reconnects { get; }

    public Counter<long> Attempts { get; }

    public Histogram<double> TimeDown { get; }

    /// <summary>The instruments on <paramref name="meter"/>, created on first use.</summary>
    public static TransportMetrics For(Meter meter) => PerMeter.GetValue(meter, static m => new TransportMetrics(m));

    public void Register(ConnectionTelemetry connection)
    {
        lock (_gate)
        {
            _live = [.. _live, connection];
        }
    }

    public void Unregister(ConnectionTelemetry connection)
    {
        lock (_gate)
        {
            _live = Array.FindAll(_live, c => !ReferenceEquals(c, connection));
        }
    }

    private IEnumerable<Measurement<T>> Observe<T>(Func<ConnectionTelemetry, T> read)
        where T : struct
    {
        var live = Volatile.Read(ref _live);
        var measurements = new Measurement<T>[live.Length];
        for (var i = 0; i < live.Length; i++)
        {
            measurements[i] = new Measurement<T>(read(live[i]), live[i].Tag);
        }

        return measurements;
    }
}
