using Transport;

namespace TradingAdapters;

/// <summary>
/// Turns a venue's inbound limit ("N messages in any sliding second, or you are disconnected",
/// Binance: 5) into the transport's send pacing.
/// </summary>
/// <remarks>
/// The transport's pacing has the venue's own semantics: at most <c>MaxFrames</c> frames in any
/// window of <c>Window</c>, on the times writes start. The venue counts arrival times, and the
/// pacer releases frames right at the window's edge, so jitter between two batches can bunch them
/// at the venue. This helper therefore widens the window by 250 ms and keeps one message of
/// headroom (N - 1 per 1.25 s) for frames the pacer does not see (keep-alive pings the socket sends
/// by itself). A resubscribe burst of any size then drains without tripping the venue's 1008.
/// </remarks>
public static class VenueRateLimit
{
    /// <summary>The margin added to the venue's one-second window.</summary>
    public static readonly TimeSpan JitterMargin = TimeSpan.FromMilliseconds(250);

    /// <summary>Paces every frame the sink writes to stay under <paramref name="venueMessagesPerSecond"/>.</summary>
    public static TransportOptionsBuilder Apply(TransportOptionsBuilder options, int venueMessagesPerSecond)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (maxFrames, window) = For(venueMessagesPerSecond);
        return options.WithSendRateLimit(maxFrames, window);
    }

    /// <summary>The pacing for a venue limit (at least 2 messages per second).</summary>
    public static (int MaxFrames, TimeSpan Window) For(int venueMessagesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(venueMessagesPerSecond, 2);
        return (venueMessagesPerSecond - 1, TimeSpan.FromSeconds(1) + JitterMargin);
    }
}
