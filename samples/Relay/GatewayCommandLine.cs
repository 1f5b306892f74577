using System.Globalization;

namespace RelaySample;

/// <summary>
/// The gateway's flags, mapped onto configuration keys of the <c>Relay</c> section (so a <c>relay.json</c> file,
/// environment variables <c>RELAY__Nats__Url</c> and flags all bind the same <see cref="Transport.Nats.NatsRelayOptions"/>).
/// Pure: returns an error text instead of throwing.
/// </summary>
internal static class GatewayCommandLine
{
    public const string Usage = """
        Usage: Relay [options]      (the gateway: venue connection -> NATS JetStream)
          --nats URL            NATS server (default nats://127.0.0.1:4222; credentials: relay.json or RELAY__Nats__*)
          --feed NAME           feed name (default sim)
          --venue ws://...      the venue; without it a venue simulator runs in process
          --topics A,B          topics to subscribe (default BTC-USD,ETH-USD,SOL-USD)
          --relay-id ID         this relay's id (default machine-pid); run two with different ids for failover
          --tick-ms N           tick interval of the embedded simulator (default 100)
          --lease-ttl-ms N      a standby takes over a lease unchanged this long (default 5000)
          --renew-ms N          lease renewal interval (default 500)
          --fence-ms N          the active relay closes its venue connection after this long without a renewal (default 2500)
          --check-ms N          how often a standby reads the lease (default 250)
          --status-ms N         status line interval (default 2000; 0: none)
          --quiet               no status lines, only role changes and acknowledged sequences
          --help                this text
        """;

    public sealed record Parsed(Dictionary<string, string?> Config, Uri? Venue, IReadOnlyList<string> Topics, int TickMs, int StatusMs, bool Quiet);

    public static bool TryParse(IReadOnlyList<string> args, out Parsed parsed, out string? error)
    {
        var config = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        Uri? venue = null;
        IReadOnlyList<string> topics = ["BTC-USD", "ETH-USD", "SOL-USD"];
        int tick = 100, status = 2000;
        bool quiet = false;
        parsed = new Parsed(config, null, topics, tick, status, quiet);
        error = null;
        for (int i = 0; i < args.Count; i++)
        {
            var flag = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{flag} needs a value");
            int Int() => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
                ? n
                : throw new FormatException($"{flag} needs a non-negative integer");
            string Ms() => TimeSpan.FromMilliseconds(Int()).ToString("c", CultureInfo.InvariantCulture);
            try
            {
                switch (flag)
                {
                    case "--nats": config["Relay:Nats:Url"] = Value(); break;
                    case "--feed": config["Relay:Feed"] = Value(); break;
                    case "--venue":
                        var text = Value();
                        if (!Uri.TryCreate(text, UriKind.Absolute, out venue) || venue.Scheme is not ("ws" or "wss"))
                        {
                            throw new FormatException("--venue needs an absolute ws:// or wss:// URI");
                        }

                        break;
                    case "--topics": topics = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                    case "--relay-id": config["Relay:RelayId"] = Value(); break;
                    case "--tick-ms": tick = Int(); break;
                    case "--lease-ttl-ms": config["Relay:Lease:Ttl"] = Ms(); break;
                    case "--renew-ms": config["Relay:Lease:RenewInterval"] = Ms(); break;
                    case "--fence-ms": config["Relay:Lease:FenceAfter"] = Ms(); break;
                    case "--check-ms": config["Relay:Lease:CheckInterval"] = Ms(); break;
                    case "--status-ms": status = Int(); break;
                    case "--quiet": quiet = true; break;
                    case "--help" or "-h":
                        error = Usage;
                        return false;
                    default:
                        error = $"unknown option {flag}\n{Usage}";
                        return false;
                }
            }
            catch (FormatException ex)
            {
                error = ex.Message;
                return false;
            }
        }

        if (topics.Count == 0 || tick < 1)
        {
            error = "--topics needs at least one topic and --tick-ms must be >= 1";
            return false;
        }

        parsed = new Parsed(config, venue, topics, tick, status, quiet);
        return true;
    }
}
