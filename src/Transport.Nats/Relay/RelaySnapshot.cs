namespace Transport.Nats;

/// <summary>What a relay is doing for its feed.</summary>
public enum RelayRole
{
    /// <summary>Connecting to NATS and preparing the stream and the bucket.</summary>
    Starting,

    /// <summary>Another relay holds the lease (or held it recently): this one waits, with no venue connection.</summary>
    Standby,

    /// <summary>Holds the lease: has the venue connection and publishes.</summary>
    Active,

    /// <summary>Lost the lease (another relay took it, or renewals failed for <c>Lease.FenceAfter</c>): closing its venue connection, then standby.</summary>
    Fenced,

    /// <summary>Stopped: shut down, or its input ended.</summary>
    Stopped,
}

/// <summary>
/// A relay's state and cumulative counts; every field is a level or a cumulative count, like
/// <see cref="LifecycleSnapshot"/>, so the newest snapshot tells everything. Also exported as metrics
/// (meter <c>Transport.Nats</c>).
/// </summary>
/// <param name="Feed">The feed's name.</param>
/// <param name="Relay">This relay's id (its lease holder name).</param>
/// <param name="Role">What it does now.</param>
/// <param name="Generation">The lease generation it holds or last held (0: never active).</param>
/// <param name="BusConnected">Its NATS connection is open.</param>
/// <param name="FramesRead">Frames read from the input (cumulative, all generations).</param>
/// <param name="FramesAcknowledged">Frames JetStream acknowledged (stored, duplicates of a retry included once).</param>
/// <param name="Pending">Frames read and not yet acknowledged (in flight and waiting): the relay's lag in frames.</param>
/// <param name="InFlight">Frames published and awaiting their acknowledgement (at most <c>MaxInFlight</c>).</param>
/// <param name="OldestPendingAge">How long the oldest pending frame has waited: the relay's lag in time.</param>
/// <param name="Dropped">Frames dropped by the outage buffer (full while the bus was down); counted in the lag header.</param>
/// <param name="TooLarge">Frames larger than the server's <c>max_payload</c>, dropped; counted in the lag header.</param>
/// <param name="PublishFailures">Publish attempts that failed (refused, not acknowledged in time, or the bus was down).</param>
/// <param name="Retries">Frames published again after a failure (JetStream stores each once, by its message id).</param>
/// <param name="LastAcknowledgedSequence">The relay sequence of the newest acknowledged frame.</param>
/// <param name="Takeovers">How many times this relay became active.</param>
/// <param name="LastError">The most recent failure, as a type and a message free of secrets; null: none.</param>
public sealed record RelaySnapshot(
    string Feed,
    string Relay,
    RelayRole Role,
    long Generation,
    bool BusConnected,
    long FramesRead,
    long FramesAcknowledged,
    long Pending,
    long InFlight,
    TimeSpan OldestPendingAge,
    long Dropped,
    long TooLarge,
    long PublishFailures,
    long Retries,
    long LastAcknowledgedSequence,
    long Takeovers,
    string? LastError)
{
    /// <summary>One line, safe to log.</summary>
    public override string ToString() =>
        $"relay {Relay} feed {Feed}: {Role} gen={Generation} bus={(BusConnected ? "up" : "down")} read={FramesRead} acked={FramesAcknowledged} " +
        $"pending={Pending} inflight={InFlight} lag={OldestPendingAge.TotalMilliseconds:0}ms dropped={Dropped} tooLarge={TooLarge} " +
        $"failures={PublishFailures} retries={Retries} lastSeq={LastAcknowledgedSequence} takeovers={Takeovers}" +
        (LastError is null ? string.Empty : $" lastError={LastError}");
}
