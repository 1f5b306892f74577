using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Scenario 1: receive throughput from a server flooding pre-framed messages. Every round runs
/// every client once (the starting client rotates), and ratios are taken within a round.
/// </summary>
internal static class ReceiveThroughput
{
    private static readonly ReceiveClient[] AllClients = [ReceiveClient.RawReused, ReceiveClient.RawOwned, ReceiveClient.WebsocketClient, ReceiveClient.LeafOnly, ReceiveClient.StackForeach, ReceiveClient.StackTryRead, ReceiveClient.StackBatch, ReceiveClient.StackLease];

    // Diagnostics for profiling one client alone: BENCH_CLIENTS=StackForeach,LeafOnly BENCH_SIZES=100
    private static readonly ReceiveClient[] Clients = Environment.GetEnvironmentVariable("BENCH_CLIENTS") is { Length: > 0 } only
        ? [.. only.Split(',').Select(Enum.Parse<ReceiveClient>)]
        : AllClients;

    private static readonly string? Sizes = Environment.GetEnvironmentVariable("BENCH_SIZES");

    public static async Task RunAsync(BenchServer server, Settings settings, Report report)
    {
        await RunSizeAsync(server, settings, report, "100 B text", 0x1, 100, settings.Scale(1_000_000, 2_000));
        await RunSizeAsync(server, settings, report, "1 KiB binary", 0x2, 1024, settings.Scale(200_000, 2_000));
        await RunSizeAsync(server, settings, report, "1 MiB binary", 0x2, 1024 * 1024, settings.Scale(2_000, 20));
    }

    private static async Task RunSizeAsync(BenchServer server, Settings settings, Report report, string label, int opcode, int payloadBytes, long count)
    {
        if (Sizes is { Length: > 0 } && !Sizes.Split(',').Contains(payloadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            return;
        }

        report.Heading($"Receive throughput: {Report.N(count)} x {label} ({settings.Rounds} rounds, medians; ratios within a round)");
        server.Handler = Handlers.Flood(opcode, payloadBytes, count);

        // Generous ring: a throughput run must lose nothing, so the bound never bites (it is not what is measured).
        Action<TransportOptionsBuilder> ring = o => o.WithReceiveRing((int)Math.Min(int.MaxValue, count + 1), 4L * 1024 * 1024 * 1024);
        var ct = settings.Deadline(TimeSpan.FromMinutes(10));

        // Warm-up: JIT tiers and pools, untimed, with the same message count (the flood handler has one count).
        if (!settings.Quick)
        {
            foreach (var client in Clients)
            {
                await Receivers.RunAsync(client, server.Uri, count, payloadBytes, ring, ct);
            }
        }

        var samples = Clients.ToDictionary(c => c, _ => new List<RunSample>());
        for (int round = 0; round < settings.Rounds; round++)
        {
            for (int i = 0; i < Clients.Length; i++)
            {
                var client = Clients[(i + round) % Clients.Length];
                GC.Collect();
                GC.WaitForPendingFinalizers();
                try
                {
                    samples[client].Add(await Receivers.RunAsync(client, server.Uri, count, payloadBytes, ring, ct));
                }
                catch (Exception ex)
                {
                    report.Fail($"{label}, {Receivers.Name(client)}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        var raw = samples.GetValueOrDefault(ReceiveClient.RawReused) ?? [];
        var owned = samples.GetValueOrDefault(ReceiveClient.RawOwned) ?? [];
        var peer = samples.GetValueOrDefault(ReceiveClient.WebsocketClient) ?? [];
        IEnumerable<double> Ratios(List<RunSample> baseline, List<RunSample> mine) =>
            Enumerable.Range(0, Math.Min(baseline.Count, mine.Count)).Select(r => mine[r].MessagesPerSecond / baseline[r].MessagesPerSecond);
        double RatioTo(List<RunSample> baseline, List<RunSample> mine) => Stats.Median(Ratios(baseline, mine));
        string RatioRange(List<RunSample> baseline, List<RunSample> mine) =>
            Ratios(baseline, mine).ToArray() is { Length: > 0 } r ? $"{r.Min():0.00}-{r.Max():0.00}" : "-";

        // Spread: (max - min) / median of a client's own msgs/s over the rounds; the target is a
        // stack spread no wider than raw's.
        string Spread(List<RunSample> s) =>
            s.Count > 1 ? $"{(s.Max(x => x.MessagesPerSecond) - s.Min(x => x.MessagesPerSecond)) / Stats.Median(s.Select(x => x.MessagesPerSecond)) * 100:0}%" : "-";

        report.Table(
            ["client", "msgs/s", "MB/s", "alloc B/msg", "gen0/1/2 per run", "vs raw", "vs raw (range)", "vs raw+owned", "vs Websocket.Client", "spread"],
            Clients.Where(c => samples[c].Count > 0).Select(c =>
            {
                var s = samples[c];
                return new[]
                {
                    Receivers.Name(c),
                    Report.N(Stats.Median(s.Select(x => x.MessagesPerSecond))),
                    Report.N(Stats.Median(s.Select(x => x.MegabytesPerSecond)), 1),
                    Report.N(Stats.Median(s.Select(x => x.AllocatedPerMessage)), 1),
                    $"{Stats.Median(s.Select(x => (double)x.Gen0))}/{Stats.Median(s.Select(x => (double)x.Gen1))}/{Stats.Median(s.Select(x => (double)x.Gen2))}",
                    Report.Ratio(RatioTo(raw, s)),
                    RatioRange(raw, s),
                    Report.Ratio(RatioTo(owned, s)),
                    Report.Ratio(RatioTo(peer, s)),
                    Spread(s),
                };
            }));
        report.Line($"Verified: every run received all {Report.N(count)} messages in sequence (count and per-message sequence checked).");
    }
}
