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

    /// <summary>How long shutdown waits for the close handshake before completing anyway. Default 2 s.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A deep copy.</summary>
    /// <returns>The copy.</returns>
    public TransportOptions Clone() => new()
    {
        Name = Name,
        Uri = Uri,
        Headers = new Dictionary<string, string>(Headers, StringComparer.OrdinalIgnoreCase),
        SubProtocols = [.. SubProtocols],
        Reconnect = Reconnect with { },
        Receive = Receive with { },
        Send = Send with { RateLimit = Send.RateLimit is null ? null : Send.RateLimit with { } },
        Liveness = Liveness with { },
        CloseTimeout = CloseTimeout,
    };

    /// <summary>Names and sizes; never header values.</summary>
    public override string ToString() =>
        $"{Name} {(Uri is null ? "(no uri)" : Redaction.RedactUri(Uri))} headers={Headers.Count}";
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

    /// <summary>Each attempt's own bound on auth stamping plus handshake. Default 10 s.</summary>
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
    /// Voluntary give-up after this many consecutive failures (sets Exhausted). A session that ends
    /// before <see cref="StableAfter"/> counts as one more failure. Null: never.
    /// </summary>
    public int? MaxAttempts { get; set; }

    /// <summary>
    /// How long a session must stay up to count as healthy. Default 30 s. The end of a healthy
    /// session resets the failure counts and the next attempt starts at once; a session that ends
    /// sooner counts as one more consecutive failure (for <see cref="PermanentRetries"/>, for
    /// <see cref="MaxAttempts"/> and for the backoff exponent), so a server that accepts and then
    /// drops every session is backed off and, when the drop is Permanent, given up on. 30 s
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
}

/// <summary>The send queue and pacing.</summary>
public sealed record SendQueueOptions
{
    /// <summary>The queue's frame bound (both lanes). Default 1,024.</summary>
    public int CapacityFrames { get; set; } = 1024;

    /// <summary>The queue's byte bound (both lanes). Default 4 MiB.</summary>
    public long CapacityBytes { get; set; } = 4L * 1024 * 1024;

    /// <summary>Token-bucket pacing of everything sent (both lanes). Null: off.</summary>
    public SendRateLimit? RateLimit { get; set; }
}

/// <summary>A token bucket: <see cref="PermitsPerPeriod"/> frames per <see cref="Period"/>, bursting to <see cref="Burst"/>.</summary>
public sealed record SendRateLimit
{
    /// <summary>Tokens added each period. Default 5.</summary>
    public int PermitsPerPeriod { get; set; } = 5;

    /// <summary>The replenishment period. Default 1 s.</summary>
    public TimeSpan Period { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The bucket size: frames that may leave back to back. Default 5.</summary>
    public int Burst { get; set; } = 5;
}

/// <summary>Idle detection and the active probe.</summary>
public sealed record LivenessOptions
{
    /// <summary>No frame for this long: phase Stale (a signal; the socket stays). Null: off.</summary>
    public TimeSpan? StaleAfter { get; set; }

    /// <summary>No frame for this long: the connection is treated as dead and rebuilt. Null: off.</summary>
    public TimeSpan? DeadAfter { get; set; }

    /// <summary>The leaf's protocol keep-alive interval (ClientWebSocket KeepAliveInterval). Null: the platform default.</summary>
    public TimeSpan? KeepAliveInterval { get; set; }

    /// <summary>How long the leaf waits for the pong of its keep-alive ping before failing the socket. Null: no pong check.</summary>
    public TimeSpan? KeepAliveTimeout { get; set; }
}
