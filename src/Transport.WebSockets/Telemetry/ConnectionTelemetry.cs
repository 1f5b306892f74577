using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Transport.WebSockets.Telemetry;

/// <summary>
/// The actor's one telemetry dependency: counters and gauges on a <see cref="Meter"/> and a span
/// per connection on an <see cref="ActivitySource"/>, both named <see cref="TransportTelemetry.Name"/>,
/// tagged with the connection name. Hot-path methods are a counter add each.
/// </summary>
internal sealed class ConnectionTelemetry : IDisposable
{
    private readonly KeyValuePair<string, object?> _tag;
    private readonly TagList _tags;
    private readonly Counter<long> _framesIn;
    private readonly Counter<long> _bytesIn;
    private readonly Counter<long> _framesOut;
    private readonly Counter<long> _bytesOut;
    private readonly Counter<long> _lagged;
    private readonly Counter<long> _reconnects;
    private readonly Counter<long> _attempts;
    private readonly Histogram<double> _timeDown;
    private readonly Activity? _activity;

    public ConnectionTelemetry(Meter meter, string connectionName, Func<int> ringDepth, Func<int> sendQueueDepth, Func<double> downSeconds)
    {
        _tag = new KeyValuePair<string, object?>(TransportTelemetry.ConnectionTag, connectionName);
        _tags = new TagList { _tag };
        _framesIn = meter.CreateCounter<long>(TransportTelemetry.FramesReceived, "{frame}", "Data frames read from sockets.");
        _bytesIn = meter.CreateCounter<long>(TransportTelemetry.BytesReceived, "By", "Payload bytes of data frames read from sockets.");
        _framesOut = meter.CreateCounter<long>(TransportTelemetry.FramesSent, "{frame}", "Frames written to sockets (data, control and pongs).");
        _bytesOut = meter.CreateCounter<long>(TransportTelemetry.BytesSent, "By", "Payload bytes written to sockets.");
        _lagged = meter.CreateCounter<long>(TransportTelemetry.FramesLagged, "{frame}", "Data frames evicted from the receive ring (dropped, signalled in TotalLagged).");
        _reconnects = meter.CreateCounter<long>(TransportTelemetry.Reconnects, "{reconnect}", "Completed down-cycles (epoch advances).");
        _attempts = meter.CreateCounter<long>(TransportTelemetry.ConnectAttempts, "{attempt}", "Connect attempts, successful or not.");
        _timeDown = meter.CreateHistogram<double>(TransportTelemetry.TimeDown, "s", "Duration of each down-cycle.");
        meter.CreateObservableGauge(TransportTelemetry.RingDepth, () => new Measurement<int>(ringDepth(), _tag), "{frame}", "Frames buffered in the receive ring.");
        meter.CreateObservableGauge(TransportTelemetry.SendQueueDepth, () => new Measurement<int>(sendQueueDepth(), _tag), "{frame}", "Frames waiting in the send queue.");
        meter.CreateObservableGauge(TransportTelemetry.CurrentDownSeconds, () => new Measurement<double>(downSeconds(), _tag), "s", "Seconds the feed has been down now (0 while up).");
        _activity = TransportTelemetry.ActivitySource.StartActivity("transport.connection", ActivityKind.Client, parentContext: default, tags: [_tag]);
    }

    public void FrameReceived(int bytes)
    {
        _framesIn.Add(1, _tag);
        _bytesIn.Add(bytes, _tag);
    }

    public void FrameSent(int bytes)
    {
        _framesOut.Add(1, _tag);
        _bytesOut.Add(bytes, _tag);
    }

    public void Lagged(int frames) => _lagged.Add(frames, _tag);

    public void Attempt() => _attempts.Add(1, _tag);

    public void Reconnected(TimeSpan down)
    {
        _reconnects.Add(1, _tag);
        _timeDown.Record(down.TotalSeconds, _tags);
    }

    /// <summary>Adds a span event for a lifecycle transition; the snapshot's ToString carries no secrets.</summary>
    public void Transition(LifecycleSnapshot snapshot)
    {
        if (_activity is null)
        {
            return;
        }

        var tags = new ActivityTagsCollection
        {
            ["phase"] = snapshot.Phase.ToString(),
            ["epoch"] = snapshot.Epoch,
            ["attempts"] = snapshot.Attempts,
            ["lagged"] = snapshot.TotalLagged,
        };
        if (snapshot.LastError is { } error)
        {
            tags["error.kind"] = error.Kind.ToString();
            if (error.HttpStatus is { } status)
            {
                tags["http.status"] = status;
            }

            if (error.CloseCode is { } code)
            {
                tags["close.code"] = code;
            }
        }

        _activity.AddEvent(new ActivityEvent("transition", tags: tags));
        if (snapshot.IsTerminal)
        {
            _activity.SetStatus(snapshot.Phase == ConnectionPhase.Closed && !snapshot.Exhausted ? ActivityStatusCode.Ok : ActivityStatusCode.Error);
        }
    }

    public void Dispose() => _activity?.Dispose();
}
