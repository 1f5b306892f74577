using Microsoft.Extensions.Configuration;

namespace Transport.Nats;

/// <summary>Where JetStream keeps the feed's frames: the stream's limits.</summary>
public sealed class NatsStreamSettings
{
    /// <summary>How long frames are kept (default 24 h); a consumer resuming from an older position sees a sequence gap, counted.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Most bytes kept (default 1 GiB); the oldest frames go first.</summary>
    public long MaxBytes { get; set; } = 1L << 30;

    /// <summary>File storage (default; survives a server restart) or memory.</summary>
    public bool InMemory { get; set; }

    /// <summary>JetStream's de-duplication window for retried publishes (default 2 min; must cover a bus outage's retries).</summary>
    public TimeSpan DuplicateWindow { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Replicas in a cluster (default 1).</summary>
    public int Replicas { get; set; } = 1;
}

/// <summary>
/// The lease that makes one relay of a feed active (docs/adr/0017-nats-relay.md): a KV entry renewed by
/// revision compare-and-set (nats-server 2.9 has no per-key TTL).
/// </summary>
/// <remarks>
/// The active relay renews every <see cref="RenewInterval"/> and closes its venue connection once no
/// renewal has succeeded for <see cref="FenceAfter"/> (measured from when the last successful renewal was
/// sent). A standby takes over once it has seen the lease unchanged for <see cref="Ttl"/>. So the standby
/// opens its venue connection at least <c>Ttl - FenceAfter</c> after the active started closing its own:
/// no overlap as long as the active's close takes less than that (the transport's <c>CloseTimeout</c>,
/// default 2 s, bounds it). The standby holds the lease at most <see cref="TakeoverBound"/> after the
/// active died.
/// </remarks>
public sealed class NatsLeaseOptions
{
    /// <summary>How often the active relay renews (default 500 ms).</summary>
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>No successful renewal for this long: the active relay closes its venue connection (default 2.5 s).</summary>
    public TimeSpan FenceAfter { get; set; } = TimeSpan.FromSeconds(2.5);

    /// <summary>A standby takes over a lease it has seen unchanged this long (default 5 s).</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a standby reads the lease (default 250 ms).</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The most time from the active relay's death (or stall) to the standby holding the lease:
    /// <c>RenewInterval + Ttl + 2 x CheckInterval</c>, plus the KV round trips of the last read and the takeover
    /// write; its venue connection then takes one connect. The last renewal came at most RenewInterval before the
    /// death, the standby sees it at most one CheckInterval after it was written, and checks the TTL at most
    /// one CheckInterval after it ran out.
    /// </summary>
    public TimeSpan TakeoverBound => RenewInterval + Ttl + CheckInterval + CheckInterval;

    /// <summary>The margin between the active's fence and the standby's takeover: the time the active has to close its venue connection.</summary>
    public TimeSpan CloseMargin => Ttl - FenceAfter;

    internal void Validate(string owner)
    {
        Positive(RenewInterval, "Lease.RenewInterval");
        Positive(CheckInterval, "Lease.CheckInterval");
        if (FenceAfter <= RenewInterval)
        {
            throw new ArgumentException($"{owner}: Lease.FenceAfter: must be > Lease.RenewInterval ({RenewInterval}), or one late renewal fences the active relay.", nameof(FenceAfter));
        }

        if (Ttl <= FenceAfter)
        {
            throw new ArgumentException($"{owner}: Lease.Ttl: must be > Lease.FenceAfter ({FenceAfter}): the difference is the active relay's time to close its venue connection before a standby opens one.", nameof(Ttl));
        }

        if (CheckInterval >= Ttl)
        {
            throw new ArgumentException($"{owner}: Lease.CheckInterval: must be < Lease.Ttl ({Ttl}).", nameof(CheckInterval));
        }

        void Positive(TimeSpan value, string field)
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentException($"{owner}: {field}: must be positive (was {value}).", field);
            }
        }
    }
}

/// <summary>
/// A relay's settings, bindable from configuration (for example the section <c>"Relay"</c>:
/// <c>{ "Feed": "binance", "Nats": { "Url": "nats://nats:4222", "CredsFile": "..." }, "Lease": { "Ttl": "00:00:05" } }</c>).
/// </summary>
public sealed class NatsRelayOptions
{
    /// <summary>The feed's name (required): 1 to 64 of <c>A-Z a-z 0-9 _ -</c>.</summary>
    public string Feed { get; set; } = string.Empty;

    /// <summary>This relay's id, the lease holder's name; null: <c>{machine}-{process id}</c>. Two relays of a feed need different ids.</summary>
    public string? RelayId { get; set; }

    /// <summary>The subjects' prefix (default <c>transport</c>).</summary>
    public string SubjectPrefix { get; set; } = NatsFeedLayout.DefaultSubjectPrefix;

    /// <summary>The stream's name; null: <c>TRANSPORT_{Feed}</c>.</summary>
    public string? StreamName { get; set; }

    /// <summary>The KV bucket of the lifecycle and the lease (default <c>transport-feeds</c>).</summary>
    public string Bucket { get; set; } = NatsFeedLayout.DefaultBucket;

    /// <summary>The NATS connection.</summary>
    public NatsConnectionOptions Nats { get; set; } = new();

    /// <summary>The stream's limits (applied when the relay creates the stream).</summary>
    public NatsStreamSettings Stream { get; set; } = new();

    /// <summary>The lease (failover between relays).</summary>
    public NatsLeaseOptions Lease { get; set; } = new();

    /// <summary>Most frames published and not yet acknowledged (default 1024): the batch the relay keeps on the wire.</summary>
    public int MaxInFlight { get; set; } = 1024;

    /// <summary>The outage bound in frames: most frames held while the bus is slow or down (default 100,000); beyond it the oldest waiting frame is dropped and counted.</summary>
    public int BufferFrames { get; set; } = 100_000;

    /// <summary>The outage bound in payload bytes (default 64 MiB).</summary>
    public long BufferBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>A frame published and not acknowledged within this is published again (default 5 s).</summary>
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The pause after a failed publish before the next attempt (default 250 ms).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often the lifecycle is re-published when only its counts changed (default 250 ms); phase changes go out at once.</summary>
    public TimeSpan LifecycleInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The venue endpoint, shown in the lease and the lifecycle for operators; redacted before it is published (null: not shown).</summary>
    public string? VenueEndpoint { get; set; }

    /// <summary>The feed's place on NATS.</summary>
    /// <returns>The layout.</returns>
    public NatsFeedLayout Layout() => new(Feed, SubjectPrefix, StreamName, Bucket);

    /// <summary>This relay's id.</summary>
    public string EffectiveRelayId => RelayId ?? $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentException">A field is invalid; the message names it.</exception>
    public void Validate()
    {
        var owner = $"NATS relay '{Feed}'";
        try
        {
            _ = Layout();
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{owner}: {ex.Message}", ex.ParamName, ex);
        }

        if (RelayId is not null && (RelayId.Length == 0 || RelayId.Length > 128))
        {
            throw new ArgumentException($"{owner}: RelayId: must be 1 to 128 characters.", nameof(RelayId));
        }

        ArgumentNullException.ThrowIfNull(Nats, nameof(Nats));
        Nats.Validate(owner);
        Lease.Validate(owner);
        if (MaxInFlight < 1)
        {
            throw new ArgumentException($"{owner}: MaxInFlight: must be >= 1 (was {MaxInFlight}).", nameof(MaxInFlight));
        }

        if (BufferFrames <= MaxInFlight)
        {
            throw new ArgumentException($"{owner}: BufferFrames: must be > MaxInFlight ({MaxInFlight}) (was {BufferFrames}).", nameof(BufferFrames));
        }

        if (BufferBytes < 1)
        {
            throw new ArgumentException($"{owner}: BufferBytes: must be >= 1 (was {BufferBytes}).", nameof(BufferBytes));
        }

        if (AckTimeout <= TimeSpan.Zero || RetryDelay <= TimeSpan.Zero || LifecycleInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{owner}: AckTimeout, RetryDelay and LifecycleInterval: must be positive.", nameof(AckTimeout));
        }

        if (Stream.MaxAge <= TimeSpan.Zero || Stream.MaxBytes < 1 || Stream.DuplicateWindow <= TimeSpan.Zero || Stream.Replicas < 1)
        {
            throw new ArgumentException($"{owner}: Stream: MaxAge, MaxBytes, DuplicateWindow and Replicas must be positive.", nameof(Stream));
        }

        if (Stream.DuplicateWindow > Stream.MaxAge)
        {
            throw new ArgumentException($"{owner}: Stream.DuplicateWindow: must be <= Stream.MaxAge ({Stream.MaxAge}).", nameof(Stream));
        }
    }

    /// <summary>Binds a configuration section (generated binder, trim- and AOT-safe) and validates it.</summary>
    /// <param name="section">The section, for example <c>configuration.GetSection("Relay")</c>.</param>
    /// <returns>The options.</returns>
    /// <exception cref="ArgumentException">A field is invalid; the message names it.</exception>
    /// <exception cref="InvalidOperationException">A value could not be converted (the binder names the key).</exception>
    public static NatsRelayOptions FromConfiguration(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var options = new NatsRelayOptions();
        section.Bind(options);
        options.Validate();
        return options;
    }

    /// <inheritdoc />
    public override string ToString() => $"relay {EffectiveRelayId} for {Layout()} via {Nats}";
}
