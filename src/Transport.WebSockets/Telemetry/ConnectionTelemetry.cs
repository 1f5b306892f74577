using System.Diagnostics;

namespace Transport.WebSockets.Telemetry;

/// <summary>
/// One connection's telemetry: measurements on the shared <see cref="TransportMetrics"/> of its
/// Meter, tagged with the connection's name, and one span on <see cref="TransportTelemetry.ActivitySource"/>
/// from start to the terminal phase, with an event per lifecycle transition. Hot-path methods are
/// a counter add each.
/// </summary>
/// <remarks>
/// T1 the span is stopped at the terminal snapshot, not left to the finalizer (T1_span_ends_at_the_terminal_phase).
/// T2 the span never becomes the caller's <see cref="Activity.Current"/>: starting a connection must not
/// parent the caller's later work under it (T2_connect_does_not_change_the_callers_current_activity).
/// T3 span and event timestamps come from the injected <see cref="TimeProvider"/>, like all time in the stack.
/// T4 tags carry kinds, codes and counts only: never a URI, header, cookie or message text.
/// </remarks>
internal sealed class ConnectionTelemetry : IDisposable
{
    private readonly TransportMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly TagList _tags;
    private readonly Func<int> _ringDepth;
    private readonly Func<int> _sendQueueDepth;
    private readonly Func<double> _downSeconds;
    private Activity? _activity;
    private int _disposed;

    public ConnectionTelemetry(TransportMetrics metrics, TimeProvider time, string connectionName, Func<int> ringDepth, Func<int> sendQueueDepth, Func<double> downSeconds)
    {
        _metrics = metrics;
        _time = time;
        _ringDepth = ringDepth;
        _sendQueueDepth = sendQueueDepth;
        _downSeconds = downSeconds;
        Tag = new KeyValuePair<string, object?>(TransportTelemetry.ConnectionTag, connectionName);
        _tags = new TagList { Tag };
        _activity = StartSpan(connectionName, time);
        metrics.Register(this);
    }

    /// <summary>The connection-name tag carried by every measurement.</summary>
    public KeyValuePair<string, object?> Tag { get; }

    public int RingDepth() => _ringDepth();

    public int SendQueueDepth() => _sendQueueDepth();

    public double DownSeconds() => _downSeconds();

    /// <summary>One batch of received data frames: two counter updates per batch, not per frame.</summary>
    public void FramesReceived(int frames, long bytes)
    {
        _metrics.FramesReceived.Add(frames, Tag);
        _metrics.BytesReceived.Add(bytes, Tag);
    }

    public void FrameSent(int bytes)
    {
        _metrics.FramesSent.Add(1, Tag);
        _metrics.BytesSent.Add(bytes, Tag);
    }

    public void Lagged(int frames) => _metrics.FramesLagged.Add(frames, Tag);

    public void Attempt() => _metrics.Attempts.Add(1, Tag);

    public void Reconnected(TimeSpan down)
    {
        _metrics.Reconnects.Add(1, Tag);
        _metrics.TimeDown.Record(down.TotalSeconds, _tags);
    }

    /// <summary>Adds a span event for a lifecycle transition and ends the span at the terminal phase (T1).</summary>
    public void Transition(LifecycleSnapshot snapshot)
    {
        var activity = _activity;
        if (activity is null)
        {
            return;
        }

        var tags = new ActivityTagsCollection
        {
            [TransportTelemetry.PhaseTag] = snapshot.Phase.ToString(),
            [TransportTelemetry.EpochTag] = snapshot.Epoch,
            [TransportTelemetry.AttemptsTag] = snapshot.Attempts,
            [TransportTelemetry.LaggedTag] = snapshot.TotalLagged,
        };
        if (snapshot.LastError is { } error)
        {
            // T4: the kind and the codes, never the message.
            tags[TransportTelemetry.ErrorKindTag] = error.Kind.ToString();
            if (error.HttpStatus is { } status)
            {
                tags[TransportTelemetry.HttpStatusTag] = status;
            }

            if (error.CloseCode is { } code)
            {
                tags[TransportTelemetry.CloseCodeTag] = code;
            }
        }

        activity.AddEvent(new ActivityEvent(TransportTelemetry.TransitionEvent, _time.GetUtcNow(), tags));
        if (!snapshot.IsTerminal)
        {
            return;
        }

        activity.SetTag(TransportTelemetry.PhaseTag, snapshot.Phase.ToString());
        activity.SetTag(TransportTelemetry.EpochTag, snapshot.Epoch);
        activity.SetTag(TransportTelemetry.AttemptsTag, snapshot.Attempts);
        if (snapshot.Exhausted)
        {
            activity.SetTag(TransportTelemetry.ExhaustedTag, true);
        }

        if (snapshot.Phase == ConnectionPhase.Closed && !snapshot.Exhausted)
        {
            activity.SetStatus(ActivityStatusCode.Ok);
        }
        else
        {
            activity.SetStatus(ActivityStatusCode.Error, snapshot.LastError?.Kind.ToString() ?? snapshot.Phase.ToString());
        }

        EndSpan();
    }

    /// <summary>Ends the span (if the terminal transition did not) and leaves the gauges; idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        EndSpan();
        _metrics.Unregister(this);
    }

    private void EndSpan()
    {
        var activity = Interlocked.Exchange(ref _activity, null);
        if (activity is null)
        {
            return;
        }

        activity.SetEndTime(_time.GetUtcNow().UtcDateTime);
        activity.Stop();
    }

    private static Activity? StartSpan(string connectionName, TimeProvider time)
    {
        var source = TransportTelemetry.ActivitySource;
        if (!source.HasListeners())
        {
            return null;
        }

        // T2: StartActivity makes the span Activity.Current on this (the caller's) thread; put the
        // caller's back so its later work is not parented under a long-lived connection span.
        var callers = Activity.Current;
        var activity = source.StartActivity(
            TransportTelemetry.ConnectionActivity,
            ActivityKind.Client,
            parentContext: callers?.Context ?? default,
            tags: [new(TransportTelemetry.ConnectionTag, connectionName)],
            startTime: time.GetUtcNow());
        Activity.Current = callers;
        return activity;
    }
}
