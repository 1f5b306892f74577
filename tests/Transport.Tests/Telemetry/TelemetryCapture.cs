using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Transport.WebSockets;

namespace Transport.Tests.Telemetry;

/// <summary>
/// Listens to one private <see cref="Meter"/> (so parallel tests never mix figures) and to the
/// transport's ActivitySource, keeping only spans of the connection named <see cref="ConnectionName"/>.
/// </summary>
internal sealed class TelemetryCapture : IDisposable
{
    private readonly MeterListener _meters = new();
    private readonly ActivityListener _activities;
    private readonly ConcurrentQueue<(string Instrument, double Value, string? Connection)> _measurements = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, string? Connection)> _observed = new();
    private readonly ConcurrentQueue<Activity> _stopped = new();
    private readonly ConcurrentQueue<Activity> _started = new();
    private readonly ConcurrentDictionary<string, int> _published = new();

    public TelemetryCapture(string connectionName)
    {
        ConnectionName = connectionName;
        Meter = new Meter(TransportTelemetry.Name);
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, Meter))
            {
                _published.AddOrUpdate(instrument.Name, 1, (_, n) => n + 1);
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meters.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _meters.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _meters.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _meters.Start();

        _activities = new ActivityListener
        {
            ShouldListenTo = s => s.Name == TransportTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = a => { if (IsOurs(a)) { _started.Enqueue(a); } },
            ActivityStopped = a => { if (IsOurs(a)) { _stopped.Enqueue(a); } },
        };
        ActivitySource.AddActivityListener(_activities);
    }

    public string ConnectionName { get; }

    public Meter Meter { get; }

    public IReadOnlyList<Activity> Started => [.. _started];

    public IReadOnlyList<Activity> Stopped => [.. _stopped];

    /// <summary>How many instruments of each name were published on <see cref="Meter"/>.</summary>
    public IReadOnlyDictionary<string, int> Published => _published;

    /// <summary>The sum of every measurement of a counter for this connection.</summary>
    public double Sum(string instrument) =>
        _measurements.Where(m => m.Instrument == instrument && m.Connection == ConnectionName).Sum(m => m.Value);

    public int Count(string instrument) =>
        _measurements.Count(m => m.Instrument == instrument && m.Connection == ConnectionName);

    /// <summary>Polls the observable instruments now and returns this connection's value of <paramref name="instrument"/>, or null if it reported none.</summary>
    public double? Observe(string instrument)
    {
        _observed.Clear();
        _meters.RecordObservableInstruments();
        var values = _observed.Where(m => m.Instrument == instrument && m.Connection == ConnectionName).Select(m => m.Value).ToList();
        return values.Count == 0 ? null : Assert.Single(values);
    }

    public void Dispose()
    {
        _activities.Dispose();
        _meters.Dispose();
        Meter.Dispose();
    }

    private bool IsOurs(Activity activity) => Equals(activity.GetTagItem(TransportTelemetry.ConnectionTag), ConnectionName);

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? connection = null;
        foreach (var tag in tags)
        {
            if (tag.Key == TransportTelemetry.ConnectionTag)
            {
                connection = tag.Value as string;
            }
        }

        // Observable instruments report levels when polled; counters report deltas as they happen.
        (instrument.IsObservable ? _observed : _measurements).Enqueue((instrument.Name, value, connection));
    }
}
