using Microsoft.Extensions.Configuration;

namespace Transport.Nats;

/// <summary>How a consumer reads a feed's stream.</summary>
public enum NatsConsumerKind
{
    /// <summary>
    /// An ordered consumer (ephemeral, no acknowledgements): the fastest. The application keeps
    /// <see cref="NatsFeedConsumer.Position"/> and resumes with <see cref="NatsFeedOptions.StartAfter"/>.
    /// Frames are pulled as fast as they come; a consumer that falls behind drops the oldest (counted).
    /// </summary>
    Ordered,

    /// <summary>
    /// A durable consumer (<see cref="NatsFeedOptions.DurableName"/>): JetStream keeps its position
    /// (acknowledged as frames are read), so a restarted process resumes where it was. Delivery stops
    /// at <c>RingCapacityFrames</c> unacknowledged frames, so a slow reader leaves the backlog in the
    /// stream rather than dropping it. After a crash, the frames read since the last acknowledgement
    /// (at most <see cref="NatsFeedOptions.AckInterval"/> of them) are delivered again, with the same relay sequence.
    /// </summary>
    Durable,
}

/// <summary>A consumer's settings, bindable from configuration.</summary>
public sealed class NatsFeedOptions
{
    /// <summary>The feed's name (required).</summary>
    public string Feed { get; set; } = string.Empty;

    /// <summary>The subjects' prefix (default <c>transport</c>); the relay's.</summary>
    public string SubjectPrefix { get; set; } = NatsFeedLayout.DefaultSubjectPrefix;

    /// <summary>The stream's name; null: <c>TRANSPORT_{Feed}</c>; the relay's.</summary>
    public string? StreamName { get; set; }

    /// <summary>The KV bucket (default <c>transport-feeds</c>); the relay's.</summary>
    public string Bucket { get; set; } = NatsFeedLayout.DefaultBucket;

    /// <summary>The NATS connection.</summary>
    public NatsConnectionOptions Nats { get; set; } = new();

    /// <summary>Ordered (default) or durable.</summary>
    public NatsConsumerKind Kind { get; set; } = NatsConsumerKind.Ordered;

    /// <summary>The durable consumer's name (required with <see cref="NatsConsumerKind.Durable"/>): 1 to 64 of <c>A-Z a-z 0-9 _ -</c>.</summary>
    public string? DurableName { get; set; }

    /// <summary>
    /// Resume after this position (<see cref="FeedPosition.ToString"/>: <c>stream:relay:generation</c>, or just the
    /// stream sequence); null: from the start of the stream (an ordered consumer) or where the durable consumer was.
    /// The next frame delivered is the one after it, and a gap from it is detected and counted.
    /// </summary>
    public string? StartAfter { get; set; }

    /// <summary>The receive ring's frame bound (default 100,000).</summary>
    public int RingCapacityFrames { get; set; } = 100_000;

    /// <summary>The receive ring's payload byte bound (default 64 MiB).</summary>
    public long RingCapacityBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>How often a durable consumer acknowledges what was read (default 100 ms; one acknowledgement covers every frame before it).</summary>
    public TimeSpan AckInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long JetStream waits for a durable consumer's acknowledgement before delivering again (default 5 min; redeliveries are discarded by relay sequence).</summary>
    public TimeSpan AckWait { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often the lifecycle re-checks the relay's lease and re-publishes changed counts (default 100 ms).</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The feed's place on NATS.</summary>
    /// <returns>The layout.</returns>
    public NatsFeedLayout Layout() => new(Feed, SubjectPrefix, StreamName, Bucket);

    /// <summary>The parsed <see cref="StartAfter"/>.</summary>
    /// <exception cref="ArgumentException">It is not a position.</exception>
    public FeedPosition? StartAfterPosition => StartAfter is null
        ? null
        : FeedPosition.TryParse(StartAfter, out var position)
            ? position
            : throw new ArgumentException($"NATS feed '{Feed}': StartAfter: '{StartAfter}' is not a position (stream:relay:generation, or a stream sequence).", nameof(StartAfter));

    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentException">A field is invalid; the message names it.</exception>
    public void Validate()
    {
        var owner = $"NATS feed '{Feed}'";
        try
        {
            _ = Layout();
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{owner}: {ex.Message}", ex.ParamName, ex);
        }

        ArgumentNullException.ThrowIfNull(Nats, nameof(Nats));
        Nats.Validate(owner);
        if (Kind == NatsConsumerKind.Durable
            && (string.IsNullOrEmpty(DurableName) || DurableName.Length > 64 || !DurableName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')))
        {
            throw new ArgumentException($"{owner}: DurableName: a durable consumer needs a name of 1 to 64 of A-Z a-z 0-9 _ - (was '{DurableName}').", nameof(DurableName));
        }

        if (RingCapacityFrames < 1 || RingCapacityBytes < 1)
        {
            throw new ArgumentException($"{owner}: RingCapacityFrames and RingCapacityBytes: must be >= 1.", nameof(RingCapacityFrames));
        }

        if (AckInterval <= TimeSpan.Zero || AckWait <= TimeSpan.Zero || CheckInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{owner}: AckInterval, AckWait and CheckInterval: must be positive.", nameof(AckInterval));
        }

        _ = StartAfterPosition;
    }

    /// <summary>Binds a configuration section (generated binder) and validates it.</summary>
    /// <param name="section">The section.</param>
    /// <returns>The options.</returns>
    /// <exception cref="ArgumentException">A field is invalid; the message names it.</exception>
    public static NatsFeedOptions FromConfiguration(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var options = new NatsFeedOptions();
        section.Bind(options);
        options.Validate();
        return options;
    }
}
