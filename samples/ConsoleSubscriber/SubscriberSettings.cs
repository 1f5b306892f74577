namespace ConsoleSubscriber;

/// <summary>What the command line asked for.</summary>
/// <param name="Url">A real venue; null starts the embedded simulator.</param>
/// <param name="Topics">Topics to subscribe to.</param>
/// <param name="Venue">"ibkr" or "binance": which adapter drives the feed.</param>
/// <param name="Chaos">Make the embedded simulator drop and stall connections.</param>
/// <param name="Duration">Exit after this long; null runs until Ctrl+C.</param>
/// <param name="Plain">Line-per-event output instead of the live table.</param>
/// <param name="Token">Bearer token for the handshake; never printed.</param>
/// <param name="PerConnection">Pool mode: at most this many topics per connection, over as many connections as needed; null: one connection.</param>
/// <param name="VenueLifetime">The embedded simulator's connection lifetime (it closes each connection with 1001 after it); null: <see cref="EmbeddedVenue.Lifetime"/>.</param>
/// <param name="Legs">Redundant legs: every topic on this many sockets, merged by (topic, seq); null: one connection.</param>
public sealed record SubscriberSettings(Uri? Url, IReadOnlyList<string> Topics, string Venue, bool Chaos, TimeSpan? Duration, bool Plain, string? Token, int? PerConnection = null, TimeSpan? VenueLifetime = null, int? Legs = null)
{
    /// <summary>The topics the embedded simulator serves when none are given.</summary>
    public static readonly IReadOnlyList<string> DefaultTopics = ["BTC-USD", "ETH-USD", "SOL-USD"];

    /// <inheritdoc />
    public override string ToString() =>
        $"url={(Url is null ? "(embedded simulator)" : Transport.Redaction.RedactUri(Url))} topics={string.Join(',', Topics)} venue={Venue} chaos={Chaos} " +
        $"duration={(Duration is { } d ? d.TotalSeconds + "s" : "until Ctrl+C")} plain={Plain}{(PerConnection is { } n ? $" per-connection={n}" : string.Empty)}{(Legs is { } legs ? $" legs={legs}" : string.Empty)}{(VenueLifetime is { } l ? $" venue-lifetime={l.TotalSeconds}s" : string.Empty)} token={(Token is null ? "none" : Transport.Redaction.Mask)}";
}
