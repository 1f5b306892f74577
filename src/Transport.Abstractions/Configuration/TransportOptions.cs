namespace Transport;

/// <summary>
/// Configuration of one reconnecting connection: plain data, bindable from
/// <c>IConfiguration</c>. Optional features are absent (null), not zero. Build it through
/// <see cref="TransportOptionsBuilder"/>, or validate a bound instance with
/// <see cref="TransportOptionsValidation"/>; cross-field rules fail with the field named.
/// </summary>
public sealed class TransportOptions
{
    /// <summary>The connection's name, used in logs, metrics and traces.</summary>
    public string Name { get; set; } = "default";

    /// <summary>The ws:// or wss:// endpoint. Required.</summary>
    public Uri? Uri { get; set; }

    /// <summary>
    /// Further endpoints tried in order after <see cref="Uri"/> when attempts fail (each connect cycle
    /// starts again at <see cref="Uri"/>). Empty: <see cref="Uri"/> only. An <see cref="IEndpointProvider"/>
    /// given to the builder replaces this policy (it receives the list).
    /// </summary>
    public List<Uri> FailoverUris { get; set; } = [];

    /// <summary>
    /// Path segments of every endpoint that carry a credential, masked in logs, traces and exception
    /// messages: 0 is the first segment after the host, -1 the last (<c>[-1]</c> for <c>/ws/&lt;listenKey&gt;</c>).
    /// </summary>
    public List<int> SensitivePathSegments { get; set; } = [];

    /// <summary>
    /// Header and query names to redact beyond the built-in list (which already masks any name
    /// containing token, key, secret, signature, session, auth, cookie, password, ...).
    /// </summary>
    public List<string> SensitiveNames { get; set; } = [];

    /// <summary>Static handshake headers (credentials belong in an <see cref="IAuthSource"/>, stamped per attempt).</summary>
    public Dictionary<string, string> Headers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Requested subprotocols.</summary>
    public List<string> SubProtocols { get; set; } = [];

    /// <summary>Reconnect, backoff and failure policy.</summary>
    public ReconnectOptions Reconnect { get; set; } = new();

    /// <summary>The receive ring and message limits.</summary>
    public ReceiveOptions Receive { get; set; } = new();

    /// <summary>The send queue and pacing.</summary>
    public SendQueueOptions Send { get; set; } = new();

    /// <summary>Idle detection and the active probe.</summary>
    public LivenessOptions Liveness { get; set; } = new();

    /// <summary>The session initializer's bound and the handshake facts kept per session.</summary>
    public SessionOptions Session { get; set; } = new();

    /// <summary>How long shutdown waits for the close handshake before completing anyway. Default 2 s.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The built-in leaf the sockets are opened with: <see cref="LeafKind.Pipelines"/> (default)
    /// or <see cref="LeafKind.ClientWebSocket"/>. Ignored when the builder is given a ready-made leaf
    /// (<c>UseLeaf</c>). Configuration: <c>"Leaf": "ClientWebSocket"</c>. See docs/adr/0008 for why
    /// the Pipelines leaf is the default.
    /// </summary>
    public LeafKind Leaf { get; set; } = LeafKind.Pipelines;

    /// <summary>A deep copy.</summary>
    /// <returns>The copy.</returns>
    public TransportOptions Clone() => new()
    {
        Name = Name,
        Uri = Uri,
        Headers = new Dictionary<string, string>(Headers, StringComparer.OrdinalIgnoreCase),
        SubProtocols = [.. SubProtocols],
        FailoverUris = [.. FailoverUris],
        SensitivePathSegments = [.. SensitivePathSegments],
        SensitiveNames = [.. SensitiveNames],
        Session = Session with { ResponseHeaders = [.. Session.ResponseHeaders] },
        Reconnect = Reconnect with { },
        Receive = Receive with { },
        Send = Send with { RateLimit = Send.RateLimit is null ? null : Send.RateLimit with { } },
        Liveness = Liveness with { },
        CloseTimeout = CloseTimeout,
        Leaf = Leaf,
    };

    /// <summary>Names and sizes; never header values.</summary>
    public override string ToString() =>
        $"{Name} {(Uri is null ? "(no uri)" : Redaction.RedactUri(Uri, SensitiveNames, SensitivePathSegments))} failover={FailoverUris.Count} headers={Headers.Count}";
}

/// <summary>Reconnect, backoff and failure policy.</summary>
public sealed record ReconnectOptions
{
    /// <summary>The first backoff delay. Default 250 ms. Zero reconnects at once.</summary>
    public TimeSpan MinBackoff { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The cap on the backoff delay. Default 30 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Randomize delays (decorrelated jitter) so a fleet does not reconnect in lockstep. Default true.</summary>
    public bool UseJitter { get; set; } = true;

    /// <summary>Each attempt's own bound on auth stamping plus handshake. Default 10 s; 10 ms to 1 day.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Cap on connect attempts per <see cref="AttemptRateWindow"/>. Default 300 per 5 minutes: the
    /// rule Binance states for its streams (300 connections per 5 minutes per IP), which is also
    /// a polite ceiling for venues that publish none. The cap is shared by every connection a
    /// connector builds (one named DI registration is one connector), because venues count
    /// attempts per IP, not per socket. Null: no cap beyond the backoff.
    /// </summary>
    public int? MaxAttemptsPerWindow { get; set; } = 300;

    /// <summary>The sliding window of <see cref="MaxAttemptsPerWindow"/>. Default 5 minutes.</summary>
    public TimeSpan AttemptRateWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Retries after a Permanent failure before the terminal Unrecoverable phase. Default 2.</summary>
    public int PermanentRetries { get; set; } = 2;

    /// <summary>
    /// Voluntary give-up (sets Exhausted) after this many failures since the last session that
    /// delivered data: failed attempts, and sessions that ended without delivering any data before
    /// they were healthy (see <see cref="StableAfter"/>). A session that went up and delivered data is
    /// a success for this count whatever ended it, so a feed that keeps working between faults is
    /// never given up on. Null (the default): never.
    /// </summary>
    public int? MaxAttempts { get; set; }

    /// <summary>
    /// How long a session must stay up to count as healthy by its length alone. Default 30 s. A
    /// session is also healthy, whatever its length, when it delivered data and the venue closed it
    /// cleanly (1000 on a stream not classified <see cref="FailureClass.Finished"/>, or 1001 going
    /// away), or when it reached the configured <see cref="SessionOptions.Lifetime"/>. The end of a
    /// healthy session resets the failure counts and the next attempt starts at once (under the
    /// attempt cap); any other session's end counts as one more consecutive failure (for
    /// <see cref="PermanentRetries"/> and for the backoff exponent, and for <see cref="MaxAttempts"/>
    /// unless it delivered data), so a server that accepts and then drops every session, or closes
    /// it with an error code, is backed off and, when the drop is Permanent, given up on. 30 s
    /// outlasts the rejections servers make shortly after accepting (a subscribe or login deadline,
    /// a policy close after the first message) and equals the default <see cref="MaxBackoff"/>, so a
    /// flapping server is reconnected at most about once per minute. Zero: every session is healthy.
    /// </summary>
    public TimeSpan StableAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The longest wait a handshake's <c>Retry-After</c> (on a 429 or 503 answer) can impose.
    /// Default 5 minutes (the attempt window): a server's hint is honoured (the wait is the larger of
    /// the backoff and Retry-After) but one header cannot keep a feed dark for hours.
    /// </summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>The receive ring and message limits.</summary>
public sealed record ReceiveOptions
{
    /// <summary>The ring's frame bound. Default 100,000.</summary>
    public int RingCapacityFrames { get; set; } = 100_000;

    /// <summary>The ring's byte bound (payload bytes). Default 64 MiB. The newest frame is always admitted.</summary>
    public long RingCapacityBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>The largest single message accepted; beyond it the socket is closed with 1009. Default 16 MiB.</summary>
    public int MaxMessageBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Lease mode: received payloads are pooled buffers the consumer returns with
    /// <see cref="Frame.Release"/> (see <see cref="Frame.IsLeased"/> for the ownership rule).
    /// Default false: every frame owns an exact-size array. Applies to the built-in leaves; frames
    /// the ring evicts are released by the ring.
    /// </summary>
    public bool LeasedPayloads { get; set; }
}

/// <summary>The send queue and pacing.</summary>
public sealed record SendQueueOptions
{
    /// <summary>The queue's frame bound (both lanes). Default 1,024.</summary>
    public int CapacityFrames { get; set; } = 1024;

    /// <summary>The queue's byte bound (both lanes). Default 4 MiB.</summary>
    public long CapacityBytes { get; set; } = 4L * 1024 * 1024;

    /// <summary>
    /// How long one frame's write may take before the socket is treated as dead (the peer stopped
    /// reading, or the path is gone) and the connection is rebuilt; the frame is then resent or
    /// failed per its <see cref="SendDelivery"/>. Default 10 s: a healthy write of a venue-sized
    /// frame completes as soon as the kernel's send buffer takes it (microseconds to milliseconds),
    /// so only a stalled peer comes near it, while a 4 MiB frame (the default byte bound) still
    /// fits on a link as slow as ~4 Mbit/s. Null: off. At most 1 day.
    /// </summary>
    public TimeSpan? WriteTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Pacing with the venue's rule, at most N frames in any window T (both lanes; pongs per <see cref="SendRateLimit.CountPongs"/>). Null: off.</summary>
    public SendRateLimit? RateLimit { get; set; }
}

/// <summary>
/// The venue's inbound message rule: at most <see cref="MaxFrames"/> frames in any window of
/// length <see cref="Window"/> (a sliding window, not fixed buckets). Venues state it that way:
/// Binance closes a connection that sends more than 5 messages in a second with 1008.
/// </summary>
/// <remarks>
/// The guarantee is on the times frames start to be written: for every window of length
/// <see cref="Window"/> at most <see cref="MaxFrames"/> of them. Network jitter can bring frames
/// closer together by the time they reach the venue; if the venue is strict, widen the window by a
/// margin (for example 1.1 s for a 1 s rule). Counted: every frame of the control and data lanes,
/// and protocol pongs per <see cref="CountPongs"/>. Not counted: the close frame, and keep-alive
/// pings the socket sends by itself (<see cref="LivenessOptions.KeepAliveInterval"/>), which do not
/// go through the send queue.
/// </remarks>
public sealed record SendRateLimit
{
    /// <summary>At most this many frames in any window. Default 5.</summary>
    public int MaxFrames { get; set; } = 5;

    /// <summary>The window's length. Default 1 s.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Whether protocol pongs (answers to the venue's pings) count toward the limit. Default true:
    /// Binance counts PING and PONG frames as messages. When false, pongs never wait for the window.
    /// </summary>
    public bool CountPongs { get; set; } = true;
}

/// <summary>
/// Liveness, from what the leaf can see. Any inbound frame the leaf surfaces (data, ping, pong)
/// proves the transport alive; data silence alone is only <see cref="ConnectionPhase.Stale"/>.
/// </summary>
/// <remarks>
/// What each leaf sees (its <see cref="LeafCapabilities"/>): the ClientWebSocket leaf answers pings
/// itself and never surfaces pings or pongs, so a quiet connection whose server pings every second
/// looks silent to the stack; for it the dead signal is the keep-alive probe
/// (<see cref="KeepAliveInterval"/> + <see cref="KeepAliveTimeout"/>), and <see cref="DeadAfter"/> is
/// not applied. Leaves that surface pings or pongs (the mock, the pipelines leaf) see them, so
/// <see cref="DeadAfter"/> applies to them.
/// </remarks>
public sealed record LivenessOptions
{
    /// <summary>No data frame for this long: phase Stale (a signal; the socket stays). Null: off.</summary>
    public TimeSpan? StaleAfter { get; set; }

    /// <summary>
    /// No inbound frame of any kind the leaf can see (data, ping, pong) for this long: the transport
    /// is dead and the connection is rebuilt. Applied only where the leaf surfaces pings or pongs
    /// (<see cref="LeafCapabilities.SurfacesPings"/>, <see cref="LeafCapabilities.SurfacesPongs"/>);
    /// elsewhere the keep-alive timeout is the dead signal. Null: off.
    /// </summary>
    public TimeSpan? DeadAfter { get; set; }

    /// <summary>
    /// Opt-in, for venues that go silent without closing: no data frame for this long tears the socket
    /// down and reconnects, whatever pings or pongs still arrive. Null (the default): data silence is
    /// only <see cref="ConnectionPhase.Stale"/>.
    /// </summary>
    public TimeSpan? ReconnectAfterDataSilence { get; set; }

    /// <summary>The leaf's protocol keep-alive interval (ClientWebSocket KeepAliveInterval). Null: the platform default.</summary>
    public TimeSpan? KeepAliveInterval { get; set; }

    /// <summary>How long the leaf waits for the pong of its keep-alive ping before failing the socket. Null: no pong check.</summary>
    public TimeSpan? KeepAliveTimeout { get; set; }
}

/// <summary>The session initializer's bound and the handshake facts kept per session.</summary>
public sealed record SessionOptions
{
    /// <summary>
    /// The bound on the session initializer (<see cref="ISessionInitializer"/>) on each new socket;
    /// running past it fails the session like a connect timeout. Default 10 s.
    /// </summary>
    public TimeSpan InitializeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Handshake response headers kept in <see cref="SessionInfo.ResponseHeaders"/> for the life of the
    /// session (case-insensitive). Empty by default: responses may set cookies or echo tokens. The
    /// initializer sees every header either way.
    /// </summary>
    public List<string> ResponseHeaders { get; set; } = [];

    /// <summary>
    /// The venue's session lifetime, when it ends every connection on a schedule (Binance: 24 h; the
    /// samples' simulator: 20 s). A session that stayed up this long, less a tolerance of
    /// <c>min(Lifetime / 20, 1 minute)</c> (the venue starts its clock at the upgrade, a little before
    /// the transport does, and venue timers are not exact), is healthy however it ended: its end does not
    /// count as a failure and the next attempt starts at once (under the attempt cap). A session that
    /// delivered data and was closed by the venue with 1000 or 1001 is healthy without it; this option
    /// covers venues that end the session otherwise (a cut, an error code) or send nothing.
    /// Null (the default): no known lifetime. Must be positive when set.
    /// </summary>
    public TimeSpan? Lifetime { get; set; }

    /// <summary>
    /// How long before <see cref="Lifetime"/> a scheduled make-before-break rotation opens the next
    /// socket, so the venue's scheduled close costs no gap. Requires <see cref="Lifetime"/>; must be
    /// positive and less than it. Null (the default): no scheduled rotation.
    /// </summary>
    public TimeSpan? RotateBefore { get; set; }
}
