using Transport;

namespace TradingAdapters;

/// <summary>
/// Turns a venue's inbound limit ("N messages in any sliding second, or you are disconnected",
/// Binance: 5) into the transport's send pacing.
/// </summary>
/// <remarks>
/// The transport's pacing has the venue's own semantics: at most <c>MaxFrames</c> frames in any
/// window of <c>Window</c>. This helper keeps one message of headroom (N - 1 per second), so
/// network jitter bunching arrivals at the venue cannot tip a full window over; a resubscribe
/// burst of any size then drains at N - 1 per second instead of tripping the venue's 1008.
/// </remarks>
public static class VenueRateLimit
{
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
        return (venueMessagesPerSecond - 1, TimeSpan.FromSeconds(1));
    }
}
