using System.Globalization;

namespace VenueSimulator.Hosting;

/// <summary>
/// Hand-rolled parser for the runnable's few flags (no package needed). Pure, so it is
/// unit-tested; returns an error text instead of throwing for bad input.
/// </summary>
internal static class SimulatorCommandLine
{
    public const string Usage = """
        Usage: VenueSimulator [options]
          --port N              port on 127.0.0.1 (default 5005; 0 = any free port)
          --topics A,B,C        topics offered (default BTC-USD,ETH-USD,SOL-USD)
          --tick-ms N           interval between ticks per topic (default 100)
          --token T             require this token (?token= or Authorization: Bearer)
          --cookie C            accept this session cookie (session=C)
          --rate-limit N        inbound messages per second before close 1008 (default 5, 0 = off)
          --lifetime-s N        maximum connection lifetime in seconds (close 1001)
          --snapshot-bytes N    send an N-byte level2 snapshot after each subscribe
          --heartbeat-ms N      application heartbeat interval
          --ping-s N            server protocol ping interval in seconds (0 = off, default 20)
          --seed N              seed prices and chaos
          --venue-seq           venue-wide sequences: every connection gets the same ticks (redundant legs)
          --chaos               random drops and stalls
          --quiet               do not log connections
          --help                this text
        """;

    public static bool TryParse(IReadOnlyList<string> args, out SimulatorOptions options, out string? error)
    {
        options = new SimulatorOptions { Port = 5005 };
        error = null;
        for (var i = 0; i < args.Count; i++)
        {
            var flag = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{flag} needs a value");
            int Int() => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0
                ? n
                : throw new FormatException($"{flag} needs a non-negative integer");
            try
            {
                switch (flag)
                {
                    case "--port": options.Port = Int(); break;
                    case "--topics":
                        options.Topics = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
                        break;
                    case "--tick-ms": options.TickInterval = TimeSpan.FromMilliseconds(Int()); break;
                    case "--token": options.ExpectedToken = Value(); break;
                    case "--cookie": options.ExpectedSessionCookie = Value(); break;
                    case "--rate-limit": options.InboundMessagesPerSecond = Int(); break;
                    case "--lifetime-s": options.MaxConnectionLifetime = TimeSpan.FromSeconds(Int()); break;
                    case "--snapshot-bytes":
                        options.SnapshotBytes = Int();
                        options.SnapshotOnSubscribe = options.SnapshotBytes > 0;
                        break;
                    case "--heartbeat-ms": options.HeartbeatInterval = TimeSpan.FromMilliseconds(Int()); break;
                    case "--ping-s":
                        var seconds = Int();
                        options.ServerPingInterval = seconds == 0 ? null : TimeSpan.FromSeconds(seconds);
                        break;
                    case "--seed": options.Seed = Int(); break;
                    case "--chaos": options.Chaos.Enabled = true; break;
                    case "--venue-seq": options.VenueSequences = true; break;
                    case "--quiet": options.Log = null; break;
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
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            error = ex.Message;
            return false;
        }
        return true;
    }
}
