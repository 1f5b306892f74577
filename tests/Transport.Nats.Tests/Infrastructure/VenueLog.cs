using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using VenueSimulator;

namespace Transport.Nats.Tests.Infrastructure;

/// <summary>
/// A venue simulator in the test process with its connection log: every session's open and close times
/// (monotonic milliseconds), to measure how long two venue connections of one feed overlapped.
/// </summary>
public sealed partial class VenueLog : IAsyncDisposable
{
    private readonly ConcurrentDictionary<long, (long Opened, long? Closed)> _sessions = new();

    private VenueLog()
    {
    }

    public VenueSimulatorHost Host { get; private set; } = null!;

    public static async Task<VenueLog> StartAsync(int tickMs = 20)
    {
        var log = new VenueLog();
        log.Host = await VenueSimulatorHost.StartAsync(new SimulatorOptions
        {
            TickInterval = TimeSpan.FromMilliseconds(tickMs),
            InboundMessagesPerSecond = 0,
            ServerPingInterval = null,
            Seed = 3,
            Log = log.OnLine,
        });
        return log;
    }

    /// <summary>Every session: id, opened, closed (null while open).</summary>
    public IReadOnlyList<(long Id, long Opened, long? Closed)> Sessions =>
        [.. _sessions.OrderBy(s => s.Key).Select(s => (s.Key, s.Value.Opened, s.Value.Closed))];

    /// <summary>The longest time two sessions were open at once, in milliseconds (0: never).</summary>
    public long MaxOverlapMs()
    {
        var now = Environment.TickCount64;
        var sessions = Sessions;
        long max = 0;
        for (int i = 0; i < sessions.Count; i++)
        {
            for (int j = i + 1; j < sessions.Count; j++)
            {
                long start = Math.Max(sessions[i].Opened, sessions[j].Opened);
                long end = Math.Min(sessions[i].Closed ?? now, sessions[j].Closed ?? now);
                max = Math.Max(max, end - start);
            }
        }

        return max;
    }

    public string Describe()
    {
        var t0 = Sessions.Count == 0 ? 0 : Sessions.Min(s => s.Opened);
        return string.Join("; ", Sessions.Select(s => $"#{s.Id} {s.Opened - t0}..{(s.Closed is { } c ? (c - t0).ToString(System.Globalization.CultureInfo.InvariantCulture) : "open")} ms"));
    }

    public ValueTask DisposeAsync() => Host.DisposeAsync();

    private void OnLine(string line)
    {
        var now = Environment.TickCount64;
        var match = SessionLine().Match(line);
        if (!match.Success)
        {
            return;
        }

        long id = long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (match.Groups[2].Value == "connected")
        {
            _sessions[id] = (now, null);
        }
        else
        {
            _sessions.AddOrUpdate(id, _ => (now, now), (_, s) => (s.Opened, now));
        }
    }

    [GeneratedRegex(@"^#(\d+) (connected|disconnected)")]
    private static partial Regex SessionLine();
}
