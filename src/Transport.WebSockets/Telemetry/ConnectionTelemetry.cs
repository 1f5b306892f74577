using System.Diagnostics;

namespace Transport.WebSockets.Telemetry;

/// <summary>
/// One connection's telemetry: measurements on the shared <see cref="TransportMetrics"/> of its
/// Meter, tagged with the connection's name, and one span per down-cycle on
/// <see cref="TransportTelemetry.ActivitySource"/>: from the moment the feed is not up (the first
/// connect, or a down-edge) to the next up-edge (Connected, Resumed) or the terminal phase, with the
/// transitions and attempts inside it as events. Nothing is open while the feed is up, so a
/// connection that lives for weeks leaves short spans, one per outage. Hot-path methods are a
/// counter add each.
/// </summary>
/// <remarks>
/// Telemetry.T1 a down-cycle span ends at the up-edge that closes it or at the terminal snapshot, not left to
/// the finalizer (T1_one_span_per_down_cycle_ends_at_the_up_edge_or_terminal).
/// Telemetry.T2 a span never becomes the caller's <see cref="Activity.Current"/>: starting a connection must not
/// parent the caller's later work under it (T2_connect_does_not_change_the_callers_current_activity).
/// The first cycle (the initial connect) is parented under the caller's activity; later cycles are roots.
/// Telemetry.T3 span and event timestamps come from the injected <see cref="TimeProvider"/>, like all time in the stack.
/// Telemetry.T4 tags carry kinds, codes and counts only: never a URI, header, cookie or message text.
/// Telemetry.T5 events per span are capped at <see cref="TransportTelemetry.MaxEventsPerSpan"/>; the rest are
/// counted in the <see cref="TransportTelemetry.EventsDroppedTag"/> tag (T5_events_are_capped_per_span).
/// </remarks>
internal sealed class ConnectionTelemetry : IDisposable
{
    private readonly TransportMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly TagList _tags;
    private readonly Func<int> _ringDepth;
    private readonly Func<int> _sendQueueDepth;
    private readonly Func<double> _downSeconds;
    private readonly string _connectionName;
    private ActivityContext _parent;
    private Activity? _activity;
    private int _events;
    private int _eventsDropped;
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
        _connectionName = connectionName;

        // The first down-cycle is the initial connect: it starts now, under the caller's activity.
        _parent = Activity.Current?.Context ?? default;
        _activity = StartSpan();
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

    public void Attempt()
    {
        _metrics.Attempts.Add(1, Tag);
        if (_activity is { } activity)
        {
            AddEvent(activity, TransportTelemetry.AttemptEvent, null);
        }
    }

    public void Reconnected(TimeSpan down)
    {
        _metrics.Reconnects.Add(1, Tag);
        _metrics.TimeDown.Record(down.TotalSeconds, _tags);
    }

    /// <summary>
    /// Opens a down-cycle span on a down-edge, adds the transition as an event while one is open, and
    /// ends it at the up-edge (status Ok) or the terminal phase (Telemetry.T1).
    /// </summary>
    public void Transition(LifecycleSnapshot snapshot)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        var activity = _activity;
        if (activity is null && !snapshot.IsUp)
        {
            activity = _activity = StartSpan();
        }

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
            // Telemetry.T4: the kind and the codes, never the message.
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

        AddEvent(activity, TransportTelemetry.TransitionEvent, tags);
        if (!snapshot.IsUp && !snapshot.IsTerminal)
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

        if (snapshot.IsUp || (snapshot.Phase == ConnectionPhase.Closed && !snapshot.Exhausted))
        {
            activity.SetStatus(ActivityStatusCode.Ok);
        }
        else
        {
            activity.SetStatus(ActivityStatusCode.Error, snapshot.LastError?.Kind.ToString() ?? snapshot.Phase.ToString());
        }

        EndSpan();
    }

    private void AddEvent(Activity activity, string name, ActivityTagsCollection? tags)
    {
        // Telemetry.T5: a long outage (thousands of attempts) must not grow one span without bound.
        if (_events >= TransportTelemetry.MaxEventsPerSpan)
        {
            activity.SetTag(TransportTelemetry.EventsDroppedTag, ++_eventsDropped);
            return;
        }

        _events++;
        activity.AddEvent(new ActivityEvent(name, _time.GetUtcNow(), tags));
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

    private Activity? StartSpan()
    {
        var source = TransportTelemetry.ActivitySource;
        if (!source.HasListeners())
        {
            return null;
        }

        _events = 0;
        _eventsDropped = 0;

        // Telemetry.T2: StartActivity makes the span Activity.Current on this thread; put the previous one back
        // so neither the caller's later work nor the actor's is parented under a down-cycle span.
        var previous = Activity.Current;
        Activity.Current = null; // a default parent context would otherwise mean "parent under Current"
        var activity = source.StartActivity(
            TransportTelemetry.DownCycleActivity,
            ActivityKind.Client,
            parentContext: _parent,
            tags: [new(TransportTelemetry.ConnectionTag, _connectionName)],
            startTime: _time.GetUtcNow());
        Activity.Current = previous;
        _parent = default; // later cycles are roots: the caller's trace ended long ago
        return activity;
    }
}
