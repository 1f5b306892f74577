using Transport;

namespace TradingAdapters;

/// <summary>
/// Turns a venue's inbound limit ("N messages in any sliding second, or you are disconnected",
/// Binance: 5) into the transport's send pacing.
/// </summary>
/// <remarks>
/// The transport's token bucket adds <c>permits</c> at the end of each period, up to <c>burst</c>.
/// In any sliding second it can therefore release <c>burst + permits * (1 s / period)</c> frames:
/// the bucket can be full at the start of the window and refill inside it. With one permit per
/// period and a burst of one, <c>period = 1 s / (N - 2)</c> caps that at N - 1, leaving one message
/// of headroom for network jitter bunching arrivals at the venue. A resubscribe burst of any size
/// then drains at N - 2 per second instead of tripping the venue's 1008.
/// </remarks>
public static class VenueRateLimit
{
    /// <summary>Paces every frame the sink writes to stay under <paramref name="venueMessagesPerSecond"/>.</summary>
    public static TransportOptionsBuilder Apply(TransportOptionsBuilder options, int venueMessagesPerSecond)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (permits, period, burst) = For(venueMessagesPerSecond);
        return options.WithSendRateLimit(permits, period, burst);
    }

    /// <summary>The pacing for a venue limit (at least 3 messages per second).</summary>
    public static (int Permits, TimeSpan Period, int Burst) For(int venueMessagesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(venueMessagesPerSecond, 3);
        return (1, TimeSpan.FromTicks(TimeSpan.TicksPerSecond / (venueMessagesPerSecond - 2)), 1);
    }
}
