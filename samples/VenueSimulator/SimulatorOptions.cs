namespace VenueSimulator;

/// <summary>
/// Everything a simulated venue can be told to do. Defaults mimic a Binance-like market-data
/// stream scaled for a laptop: 10 ticks/s per topic, 5 inbound messages/s, server pings.
/// Tests shrink the intervals so they run in milliseconds.
/// </summary>
public sealed class SimulatorOptions
{
    /// <summary>Port to bind on 127.0.0.1; 0 picks a free one.</summary>
    public int Port { get; set; }

    /// <summary>Topics a client may subscribe to. Unknown topics get an <c>unknown_topic</c> error.</summary>
    public IList<string> Topics { get; set; } = new List<string> { "BTC-USD", "ETH-USD", "SOL-USD" };

    /// <summary>Interval between ticks of one subscription (default 100 ms, i.e. 10/s).</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Per-topic overrides of <see cref="TickInterval"/>.</summary>
    public IDictionary<string, TimeSpan> TopicTickIntervals { get; set; } = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);

    /// <summary>Starting price of every topic's random walk.</summary>
    public double InitialPrice { get; set; } = 100.0;

    /// <summary>Seed for prices, snapshots and chaos; null means non-reproducible.</summary>
    public int? Seed { get; set; }

    /// <summary>Expected token (query <c>token=</c> or <c>Authorization: Bearer</c>); null disables the check.</summary>
    public string? ExpectedToken { get; set; }

    /// <summary>Expected value of the <c>session</c> cookie; null disables the cookie path.</summary>
    public string? ExpectedSessionCookie { get; set; }

    /// <summary>WebSocket protocol keep-alive interval; null or zero disables server pings.</summary>
    public TimeSpan? ServerPingInterval { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How long the server waits for the pong to its ping before aborting (ASP.NET Core
    /// <c>KeepAliveTimeout</c>). Null means unsolicited pongs only, never a drop.
    /// </summary>
    public TimeSpan? ServerPingTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Inbound messages allowed per sliding 1 s window; more closes with 1008. 0 disables.</summary>
    public int InboundMessagesPerSecond { get; set; } = 5;

    /// <summary>Maximum inbound message size; larger closes with 1009.</summary>
    public int MaxInboundMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Maximum connection lifetime (Binance: 24 h); closes with 1001. Null disables.</summary>
    public TimeSpan? MaxConnectionLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// Venue-wide sequences: one tape per topic (one seq, one price walk) shared by every connection, so two
    /// connections subscribed to a topic receive identical ticks, and a subscription starts at the venue's next
    /// seq instead of 1 (Binance's update ids, Coinbase's sequence). What redundant legs and make-before-break
    /// rotation deduplicate by (topic, seq). Default false: per-connection sequences from 1 (PROTOCOL.md).
    /// </summary>
    public bool VenueSequences { get; set; }

    /// <summary>Send a Coinbase-level2-style snapshot right after each subscribe.</summary>
    public bool SnapshotOnSubscribe { get; set; }

    /// <summary>Minimum serialized size of a snapshot message in bytes (default 2 MiB).</summary>
    public int SnapshotBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>Interval of application heartbeats <c>{"type":"heartbeat"}</c>; null disables.</summary>
    public TimeSpan? HeartbeatInterval { get; set; }

    /// <summary>How long the server waits for the client's close reply before aborting.</summary>
    public TimeSpan CloseHandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Random faults for demos.</summary>
    public ChaosOptions Chaos { get; set; } = new();

    /// <summary>Optional line logger (connections, closes, faults). Never receives secrets.</summary>
    public Action<string>? Log { get; set; }

    /// <summary>The tick interval for <paramref name="topic"/>, honouring overrides.</summary>
    internal TimeSpan TickIntervalFor(string topic) =>
        TopicTickIntervals.TryGetValue(topic, out var interval) ? interval : TickInterval;

    /// <summary>Rejects settings that would make the server misbehave in confusing ways.</summary>
    internal void Validate()
    {
        if (Port is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(Port), Port, "Port must be 0..65535.");
        if (Topics is null || Topics.Count == 0) throw new ArgumentException("At least one topic is required.", nameof(Topics));
        if (TickInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(TickInterval), TickInterval, "Must be positive.");
        foreach (var (topic, interval) in TopicTickIntervals)
        {
            if (interval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(TopicTickIntervals), interval, $"Tick interval of {topic} must be positive.");
        }
        if (InboundMessagesPerSecond < 0) throw new ArgumentOutOfRangeException(nameof(InboundMessagesPerSecond), InboundMessagesPerSecond, "Must be >= 0.");
        if (MaxInboundMessageBytes <= 0) throw new ArgumentOutOfRangeException(nameof(MaxInboundMessageBytes), MaxInboundMessageBytes, "Must be positive.");
        if (SnapshotBytes < 0) throw new ArgumentOutOfRangeException(nameof(SnapshotBytes), SnapshotBytes, "Must be >= 0.");
        if (MaxConnectionLifetime is { } life && life <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaxConnectionLifetime), life, "Must be positive.");
        if (HeartbeatInterval is { } hb && hb <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(HeartbeatInterval), hb, "Must be positive.");
        if (CloseHandshakeTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(CloseHandshakeTimeout), CloseHandshakeTimeout, "Must be positive.");
        Chaos.Validate();
    }
}
