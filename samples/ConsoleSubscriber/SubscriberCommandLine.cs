using System.CommandLine;

namespace ConsoleSubscriber;

/// <summary>The options (System.CommandLine 2.0) and how they become <see cref="SubscriberSettings"/>.</summary>
public static class SubscriberCommandLine
{
    /// <summary>Builds the root command; <paramref name="run"/> gets the settings and the cancellation token.</summary>
    public static RootCommand Create(Func<SubscriberSettings, CancellationToken, Task<int>> run)
    {
        ArgumentNullException.ThrowIfNull(run);
        // Built per call, not static: validators added to a shared Option would pile up.
        var url = new Option<string?>("--url") { Description = "A real venue (ws:// or wss://). Without it the simulator runs in process." };
        var topics = new Option<string?>("--topics") { Description = "Comma-separated topics (default BTC-USD,ETH-USD,SOL-USD)." };
        var venue = new Option<string>("--venue")
        {
            Description = "Adapter: ibkr (staleness resubscribe, keepalive) or binance (rate limit, rotation).",
            DefaultValueFactory = _ => "ibkr",
        };
        var chaos = new Option<bool>("--chaos") { Description = "Make the embedded simulator drop and stall connections." };
        var duration = new Option<double?>("--duration") { Description = "Exit after this many seconds." };
        var plain = new Option<bool>("--plain") { Description = "One line per event (automatic when output is redirected)." };
        var token = new Option<string?>("--token") { Description = "Bearer token for the handshake (never printed)." };
        var perConnection = new Option<int?>("--per-connection") { Description = "Pool mode: at most N topics per connection, spread over as many connections as needed (each connection's phase is shown)." };
        var venueLifetime = new Option<double?>("--venue-lifetime") { Description = "The embedded simulator's connection lifetime in seconds (default 20): it closes each connection with 1001 after it." };
        var legs = new Option<int?>("--legs") { Description = "Redundant legs: every topic on N sockets (2-16), one merged feed deduplicated by (topic, seq); each leg and the aggregate are shown." };

        venue.AcceptOnlyFromAmong("ibkr", "binance");
        url.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } u && !(Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "ws" or "wss"))
                r.AddError("--url must be an absolute ws:// or wss:// URI.");
        });
        duration.Validators.Add(r =>
        {
            // Read the token, not GetValueOrDefault: that throws when the text is not a number, and a
            // validator that throws crashes the process instead of printing a usage error.
            if (r.Tokens.Count == 0) return;
            var text = r.Tokens[^1].Value;
            if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) || !double.IsFinite(seconds))
                r.AddError($"--duration must be a number of seconds, not '{text}'.");
            else if (seconds <= 0)
                r.AddError("--duration must be positive.");
        });

        venueLifetime.Validators.Add(r =>
        {
            // Read the token (as for --duration): a non-number must be a usage error, not a crash.
            if (r.Tokens.Count == 0) return;
            var text = r.Tokens[^1].Value;
            if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) || !double.IsFinite(seconds) || seconds <= 0)
                r.AddError($"--venue-lifetime must be a positive number of seconds, not '{text}'.");
        });

        perConnection.Validators.Add(r =>
        {
            // Read the token (as for --duration): a non-number must be a usage error, not a crash.
            if (r.Tokens.Count == 0) return;
            var text = r.Tokens[^1].Value;
            if (!int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) || n < 1)
                r.AddError($"--per-connection must be a whole number of at least 1, not '{text}'.");
        });

        legs.Validators.Add(r =>
        {
            // Read the token (as for --duration): a non-number must be a usage error, not a crash.
            if (r.Tokens.Count == 0) return;
            var text = r.Tokens[^1].Value;
            if (!int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) || n is < 2 or > 16)
                r.AddError($"--legs must be a whole number from 2 to 16, not '{text}'.");
        });

        var root = new RootCommand("Subscribes to a market-data feed through the resilient transport and shows it live.")
        {
            url, topics, venue, chaos, duration, plain, token, perConnection, venueLifetime, legs,
        };
        root.Validators.Add(r =>
        {
            if (r.GetResult(perConnection) is { Tokens.Count: > 0 } && r.GetResult(legs) is { Tokens.Count: > 0 })
                r.AddError("--legs and --per-connection cannot be combined: choose redundant legs or a pool.");
        });
        root.SetAction((parse, ct) =>
        {
            IReadOnlyList<string> list = parse.GetValue(topics)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
            var settings = new SubscriberSettings(
                parse.GetValue(url) is { } u ? new Uri(u) : null,
                list.Count == 0 ? SubscriberSettings.DefaultTopics : list,
                parse.GetValue(venue)!,
                parse.GetValue(chaos),
                parse.GetValue(duration) is { } s ? TimeSpan.FromSeconds(s) : null,
                parse.GetValue(plain),
                parse.GetValue(token),
                parse.GetValue(perConnection),
                parse.GetValue(venueLifetime) is { } lifetime ? TimeSpan.FromSeconds(lifetime) : null,
                parse.GetValue(legs));
            return run(settings, ct);
        });
        return root;
    }
}
