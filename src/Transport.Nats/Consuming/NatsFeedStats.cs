namespace Transport.Nats;

/// <summary>A consumer's cumulative counts (levels and cumulative counts only).</summary>
/// <param name="Received">Relay frames received from the stream (before de-duplication).</param>
/// <param name="Delivered">Frames handed to the adapter.</param>
/// <param name="Buffered">Frames in the ring now.</param>
/// <param name="GapFrames">Frames missing from the relay sequence (counted in TotalLagged).</param>
/// <param name="Gaps">Gaps seen (each one or more missing frames).</param>
/// <param name="Duplicates">Frames discarded as already delivered: retried publishes, redeliveries.</param>
/// <param name="StaleFrames">Frames of a fenced relay (an older generation) discarded (counted in TotalLagged).</param>
/// <param name="Evicted">Frames the ring dropped because the adapter was behind (counted in TotalLagged).</param>
/// <param name="UpstreamLagged">The relay's cumulative lag as of the newest frame (counted in TotalLagged).</param>
/// <param name="TotalLagged">The lifecycle's TotalLagged.</param>
/// <param name="Foreign">Messages on the feed's subjects without the relay's headers, skipped.</param>
/// <param name="Restarts">Times the consumer re-created its JetStream consumer after a failure.</param>
public sealed record NatsFeedStats(
    long Received,
    long Delivered,
    int Buffered,
    long GapFrames,
    long Gaps,
    long Duplicates,
    long StaleFrames,
    long Evicted,
    long UpstreamLagged,
    long TotalLagged,
    long Foreign,
    long Restarts);
