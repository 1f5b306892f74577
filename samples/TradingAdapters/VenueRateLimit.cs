using Transport;

namespace TradingAdapters;

/// <summary>
/// Turns a venue's inbound limit ("N messages in any sliding second, or you are disconnected",
/// Binance: 5) into the transport's send pacing.
/// </summary>
/// <remarks>
/// The transport's pacing takes the venue's rule as written and builds in the jitter margin itself
/// (<see cref="SendRateLimit.EffectiveSafetyMargin"/>: each frame is timed when its write ends, and
/// spaced by the window plus 200 ms from the N-th frame before it). This helper keeps one message of
/// headroom (N - 1 per second) for frames the pacer does not see: keep-alive pings the socket sends
/// by itself, which a venue like Binance counts. A resubscribe burst of any size then drains without
/// tripping the venue's 1008.
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

    /// <summary>The pacing for a venue limit (at least 2 messages per second): N - 1 per second, plus the transport's margin.</summary>
    public static (int MaxFrames, TimeSpan Window) For(int venueMessagesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(venueMessagesPerSecond, 2);
        return (venueMessagesPerSecond - 1, TimeSpan.FromSeconds(1));
    }
}
