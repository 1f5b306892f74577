using System.Diagnostics;

namespace Transport.WebSockets;

/// <summary>Names of the transport's <c>Meter</c>, <c>ActivitySource</c> and instruments, for OpenTelemetry subscriptions.</summary>
public static class TransportTelemetry
{
    /// <summary>The Meter and ActivitySource name.</summary>
    public const string Name = "Transport.WebSockets";

    /// <summary>The tag carrying the connection's name on every measurement and span.</summary>
    public const string ConnectionTag = "transport.connection";

    /// <summary>Counter: data frames read from sockets.</summary>
    public const string FramesReceived = "transport.frames.received";

    /// <summary>Counter: payload bytes read from sockets.</summary>
    public const string BytesReceived = "transport.bytes.received";

    /// <summary>Counter: frames written to sockets.</summary>
    public const string FramesSent = "transport.frames.sent";

    /// <summary>Counter: payload bytes written to sockets.</summary>
    public const string BytesSent = "transport.bytes.sent";

    /// <summary>Counter: data frames evicted from the receive ring.</summary>
    public const string FramesLagged = "transport.frames.lagged";

    /// <summary>Counter: completed down-cycles.</summary>
    public const string Reconnects = "transport.reconnects";

    /// <summary>Counter: connect attempts.</summary>
    public const string ConnectAttempts = "transport.connect.attempts";

    /// <summary>Histogram (seconds): duration of each completed down-cycle.</summary>
    public const string TimeDown = "transport.down.duration";

    /// <summary>
    /// Explicit bucket boundaries (seconds) advised for <see cref="TimeDown"/>: milliseconds to
    /// minutes. The OpenTelemetry defaults (0, 5, 10, 25, ... 10000) put every outage under 5 s, where
    /// most of them live, into one bucket.
    /// </summary>
    public static IReadOnlyList<double> DownDurationBuckets { get; } =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

    /// <summary>Gauge (seconds): how long the feed has been down now, 0 while up.</summary>
    public const string CurrentDownSeconds = "transport.down.current";

    /// <summary>Gauge: frames buffered in the receive ring.</summary>
    public const string RingDepth = "transport.ring.depth";

    /// <summary>Gauge: frames waiting in the send queue.</summary>
    public const string SendQueueDepth = "transport.send_queue.depth";

    /// <summary>Up-down counter (observable): connections started and not yet terminal.</summary>
    public const string ActiveConnections = "transport.connections.active";

    /// <summary>
    /// The former per-connection span name. No longer emitted: a span open for a connection's whole
    /// life (weeks) never reached a trace backend; see <see cref="DownCycleActivity"/>.
    /// </summary>
    public const string ConnectionActivity = "transport.connection";

    /// <summary>
    /// The span name of one down-cycle: from the moment the feed is not up (first connect or a
    /// down-edge) to the up-edge or the terminal phase, with transitions and attempts as events.
    /// </summary>
    public const string DownCycleActivity = "transport.down_cycle";

    /// <summary>Event name for a connect attempt inside a down-cycle span.</summary>
    public const string AttemptEvent = "transport.attempt";

    /// <summary>The most events one down-cycle span carries (transitions and attempts); the rest are counted.</summary>
    public const int MaxEventsPerSpan = 64;

    /// <summary>Span tag: how many events the cap dropped from this span.</summary>
    public const string EventsDroppedTag = "transport.events_dropped";

    /// <summary>The span event added for every lifecycle transition.</summary>
    public const string TransitionEvent = "transport.transition";

    /// <summary>Transition event tag (and terminal span tag): the phase, as its enum name.</summary>
    public const string PhaseTag = "transport.phase";

    /// <summary>Transition event tag (and terminal span tag): the epoch.</summary>
    public const string EpochTag = "transport.epoch";

    /// <summary>Transition event tag (and terminal span tag): cumulative connect attempts.</summary>
    public const string AttemptsTag = "transport.attempts";

    /// <summary>Transition event tag: cumulative frames evicted by the receive ring (TotalLagged).</summary>
    public const string LaggedTag = "transport.lagged";

    /// <summary>Terminal span tag: present (true) when a voluntary MaxAttempts cap ran out.</summary>
    public const string ExhaustedTag = "transport.exhausted";

    /// <summary>Transition event tag: the <see cref="TransportErrorKind"/> of the last error, if any.</summary>
    public const string ErrorKindTag = "error.type";

    /// <summary>Transition event tag: the HTTP status of a rejected handshake, if any.</summary>
    public const string HttpStatusTag = "http.response.status_code";

    /// <summary>Transition event tag: the WebSocket close code of the last error, if any.</summary>
    public const string CloseCodeTag = "transport.close_code";

    /// <summary>The shared ActivitySource (one span per connection, one event per transition).</summary>
    internal static ActivitySource ActivitySource { get; } = new(Name);
}
