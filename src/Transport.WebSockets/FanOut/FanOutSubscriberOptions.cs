namespace Transport.WebSockets.FanOut;

/// <summary>What a subscriber's queue does when a new frame would exceed one of its bounds.</summary>
public enum FanOutDropPolicy
{
    /// <summary>Evict the oldest buffered frames until the new one fits (the newest is always admitted). The default.</summary>
    DropOldest = 0,

    /// <summary>Reject the arriving frame and keep what is buffered (for a consumer that must see a prefix intact).</summary>
    DropNewest = 1,
}

/// <summary>
/// How one fan-out subscriber is served: its own queue bounds, drop policy and filter.
/// </summary>
/// <remarks>
/// The bounds are per subscriber: a full queue drops for that subscriber only and counts every
/// drop in <see cref="FanOutSubscriberStats.Dropped"/>. Invalid values fail in
/// <see cref="FrameFanOut.Subscribe(FanOutSubscriberOptions)"/> with a message naming the field.
/// </remarks>
public sealed record FanOutSubscriberOptions
{
    /// <summary>The default frame bound.</summary>
    public const int DefaultCapacityFrames = 10_000;

    /// <summary>The default payload byte bound (16 MiB).</summary>
    public const long DefaultCapacityBytes = 16L * 1024 * 1024;

    /// <summary>A name for logs and statistics (no secrets). Defaults to "subscriber-N".</summary>
    public string? Name { get; init; }

    /// <summary>The most frames buffered for this subscriber (at least 1). Default 10,000.</summary>
    public int CapacityFrames { get; init; } = DefaultCapacityFrames;

    /// <summary>
    /// The most payload bytes buffered for this subscriber (at least 1). With
    /// <see cref="FanOutDropPolicy.DropOldest"/> one frame larger than the budget is still admitted
    /// alone. Default 16 MiB.
    /// </summary>
    public long CapacityBytes { get; init; } = DefaultCapacityBytes;

    /// <summary>What a full queue does. Default <see cref="FanOutDropPolicy.DropOldest"/>.</summary>
    public FanOutDropPolicy DropPolicy { get; init; } = FanOutDropPolicy.DropOldest;

    /// <summary>
    /// Which frames this subscriber wants; null means every frame. Runs on the fan-out's pump for
    /// every frame, so it must be fast and must not block (a blocking filter delays every
    /// subscriber). A filter that throws detaches its subscriber (see <see cref="FanOutFilterException"/>).
    /// In lease mode the filter only borrows the frame for the call (docs/adr/0013): it may read the
    /// payload, but must neither release the frame nor keep it (or memory taken from it) after returning.
    /// </summary>
    public Func<Frame, bool>? Filter { get; init; }

    internal void Validate()
    {
        if (CapacityFrames < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(CapacityFrames), CapacityFrames, "FanOutSubscriberOptions.CapacityFrames must be at least 1.");
        }

        if (CapacityBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(CapacityBytes), CapacityBytes, "FanOutSubscriberOptions.CapacityBytes must be at least 1.");
        }

        if (!Enum.IsDefined(DropPolicy))
        {
            throw new ArgumentOutOfRangeException(nameof(DropPolicy), DropPolicy, "FanOutSubscriberOptions.DropPolicy is not a known policy.");
        }
    }
}

/// <summary>
/// One subscriber's counters. Every field is a level or a cumulative count, never a per-event
/// delta, so a reader that samples late still learns everything.
/// </summary>
/// <param name="Name">The subscriber's name.</param>
/// <param name="Offered">Cumulative frames that matched the filter and were offered to the queue.</param>
/// <param name="Delivered">Cumulative frames the subscriber has read.</param>
/// <param name="Dropped">Cumulative frames dropped by this subscriber's queue (either policy).</param>
/// <param name="Buffered">Frames in the queue now.</param>
/// <param name="BufferedBytes">Payload bytes in the queue now.</param>
/// <param name="FilteredOut">Cumulative frames the filter declined (not offered, not dropped).</param>
/// <param name="Detached">True once the subscriber no longer receives frames (disposed, filter fault, or the fan-out ended).</param>
/// <remarks>At any quiescent point <c>Offered == Delivered + Dropped + Buffered</c> (FanOut.F1).</remarks>
public readonly record struct FanOutSubscriberStats(
    string Name,
    long Offered,
    long Delivered,
    long Dropped,
    int Buffered,
    long BufferedBytes,
    long FilteredOut,
    bool Detached);

/// <summary>
/// The error a subscriber's enumeration ends with when its own filter threw: the subscriber was
/// detached, the pump and the other subscribers carry on.
/// </summary>
/// <remarks>
/// The message names the exception type only (a filter's message may echo payload text); the
/// original exception is the <see cref="Exception.InnerException"/>, handed back to the code that
/// supplied the filter.
/// </remarks>
public sealed class FanOutFilterException : Exception
{
    /// <summary>Creates the error.</summary>
    /// <param name="subscriberName">The detached subscriber.</param>
    /// <param name="inner">What the filter threw.</param>
    public FanOutFilterException(string subscriberName, Exception inner)
        : base($"The filter of fan-out subscriber '{subscriberName}' threw {inner?.GetType().Name}; the subscriber was detached.", inner)
    {
        SubscriberName = subscriberName;
    }

    /// <summary>The detached subscriber's name.</summary>
    public string SubscriberName { get; }
}
