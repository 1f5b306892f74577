using System.Globalization;

namespace Transport.Nats;

/// <summary>
/// Where a consumer is in a feed: the stream sequence of the last frame it handed out, with that
/// frame's relay sequence and generation (so a resumed consumer can tell a gap). Persist
/// <see cref="ToString"/> and pass it back as <see cref="NatsFeedOptions.StartAfter"/>.
/// </summary>
/// <param name="StreamSequence">JetStream's sequence of the frame in the feed's stream (0: none read).</param>
/// <param name="RelaySequence">The frame's <see cref="RelayHeaders.Sequence"/> (0: unknown).</param>
/// <param name="Generation">The frame's <see cref="RelayHeaders.Generation"/> (0: unknown).</param>
public readonly record struct FeedPosition(ulong StreamSequence, long RelaySequence, long Generation)
{
    /// <summary><c>stream:relay:generation</c>, invariant culture.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{StreamSequence}:{RelaySequence}:{Generation}");

    /// <summary>Parses <c>stream:relay:generation</c> or a bare stream sequence.</summary>
    /// <param name="text">The text.</param>
    /// <param name="position">The position.</param>
    /// <returns>True when it parsed.</returns>
    public static bool TryParse(string? text, out FeedPosition position)
    {
        position = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var parts = text.Trim().Split(':');
        if (parts.Length is not (1 or 3)
            || !ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong stream))
        {
            return false;
        }

        if (parts.Length == 1)
        {
            position = new FeedPosition(stream, 0, 0);
            return true;
        }

        if (!long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long relay)
            || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out long generation))
        {
            return false;
        }

        position = new FeedPosition(stream, relay, generation);
        return true;
    }
}
