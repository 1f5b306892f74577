using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Transport.WebSockets.Legs;

/// <summary>
/// Names of the redundant-legs instruments on the transport's <see cref="Meter"/> (<see cref="TransportTelemetry.Name"/>).
/// Every measurement carries <see cref="TransportTelemetry.ConnectionTag"/> (the redundant connection's name) and
/// <see cref="LegTag"/> (the leg's name). Each leg is also an ordinary connection named <c>{name}.{leg}</c>, with
/// all the per-connection instruments of <see cref="TransportTelemetry"/>.
/// </summary>
public static class LegsTelemetry
{
    /// <summary>The tag carrying the leg's name.</summary>
    public const string LegTag = "transport.leg";

    /// <summary>Counter: keyed frames a leg delivered first (it won the race).</summary>
    public const string FramesWon = "transport.legs.frames.won";

    /// <summary>Counter: keyed frames a leg received after another leg had delivered them (dropped).</summary>
    public const string FramesDuplicate = "transport.legs.frames.duplicate";

    /// <summary>Counter: unkeyed frames dropped because their leg was not the primary.</summary>
    public const string FramesUnkeyedDropped = "transport.legs.frames.unkeyed_dropped";

    /// <summary>
    /// Histogram (seconds): how far behind the delivered copy a leg's duplicates arrive, by receive time. One
    /// measurement per leg per received batch (the batch's mean), not one per frame.
    /// </summary>
    public const string Behind = "transport.legs.behind";

    /// <summary>Gauge: legs up now (tagged with the connection only).</summary>
    public const string LegsUp = "transport.legs.up";

    /// <summary>Gauge: keys in the dedupe window now (tagged with the connection only).</summary>
    public const string WindowKeys = "transport.legs.dedupe.keys";

    /// <summary>Explicit bucket boundaries (seconds) advised for <see cref="Behind"/>: 10 µs to 10 s.</summary>
    public static IReadOnlyList<double> BehindBuckets { get; } =
        [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
}

/// <summary>
/// The instruments of <see cref="LegsTelemetry"/> on one Meter, created once per Meter (see
/// <c>TransportMetrics</c> for why) and shared by every redundant connection on it.
/// </summary>
internal sealed class LegsMetrics
{
    private static readonly ConditionalWeakTable<Meter, LegsMetrics> PerMeter = new();

    private readonly Lock _gate = new();

    // Guarded by _gate; copy-on-write so the gauges enumerate without the lock.
    private RedundantConnection[] _live = [];

    private LegsMetrics(Meter meter)
    {
        Won = meter.CreateCounter<long>(LegsTelemetry.FramesWon, "{frame}", "Keyed frames a leg delivered first.");
        Duplicate = meter.CreateCounter<long>(LegsTelemetry.FramesDuplicate, "{frame}", "Keyed frames a leg received after another leg had delivered them (dropped).");
        UnkeyedDropped = meter.CreateCounter<long>(LegsTelemetry.FramesUnkeyedDropped, "{frame}", "Unkeyed frames dropped because their leg was not the primary.");
        Behind = meter.CreateHistogram<double>(
            LegsTelemetry.Behind,
            "s",
            "How far behind the delivered copy a leg's duplicates arrive (mean per received batch).",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LegsTelemetry.BehindBuckets });
        meter.CreateObservableGauge(LegsTelemetry.LegsUp, () => Observe(static c => c.LegsUpNow()), "{leg}", "Legs of a redundant connection up now.");
        meter.CreateObservableGauge(LegsTelemetry.WindowKeys, () => Observe(static c => c.WindowKeysNow()), "{key}", "Keys in a redundant connection's dedupe window.");
    }

    public Counter<long> Won { get; }

    public Counter<long> Duplicate { get; }

    public Counter<long> UnkeyedDropped { get; }

    public Histogram<double> Behind { get; }

    public static LegsMetrics For(Meter meter) => PerMeter.GetValue(meter, static m => new LegsMetrics(m));

    public void Register(RedundantConnection connection)
    {
        lock (_gate)
        {
            _live = [.. _live, connection];
        }
    }

    public void Unregister(RedundantConnection connection)
    {
        lock (_gate)
        {
            _live = Array.FindAll(_live, c => !ReferenceEquals(c, connection));
        }
    }

    private IEnumerable<Measurement<int>> Observe(Func<RedundantConnection, int> read)
    {
        var live = Volatile.Read(ref _live);
        var measurements = new Measurement<int>[live.Length];
        for (var i = 0; i < live.Length; i++)
        {
            measurements[i] = new Measurement<int>(read(live[i]), new KeyValuePair<string, object?>(TransportTelemetry.ConnectionTag, live[i].Name));
        }

        return measurements;
    }
}
