namespace Transport.Nats;

/// <summary>
/// The headers the relay puts on every frame it publishes (docs/adr/0017-nats-relay.md). Values are
/// invariant-culture decimal integers, except <see cref="Kind"/>.
/// </summary>
public static class RelayHeaders
{
    /// <summary><c>text</c> or <c>binary</c>: the WebSocket message type.</summary>
    public const string Kind = "Transport-Kind";

    /// <summary>The feed's epoch (session number) of the venue socket the frame arrived on; continues across relay takeovers.</summary>
    public const string Epoch = "Transport-Epoch";

    /// <summary>When the gateway received the frame: Unix time in microseconds, on the gateway's wall clock.</summary>
    public const string ReceivedAt = "Transport-Received-At";

    /// <summary>The relay's per-feed sequence: 1, 2, 3, ... over every frame published on the feed, continued by a relay that takes over.</summary>
    public const string Sequence = "Transport-Seq";

    /// <summary>Cumulative frames lost before the bus: the gateway's ring evictions plus the relay's own drops (outage buffer, too large).</summary>
    public const string Lagged = "Transport-Lagged";

    /// <summary>The lease generation of the relay that published the frame (+1 at every takeover).</summary>
    public const string Generation = "Transport-Generation";

    /// <summary>JetStream's de-duplication id: <c>{feed}-{generation}-{sequence}</c>, so a retried publish is stored once.</summary>
    public const string MessageId = "Nats-Msg-Id";
}
