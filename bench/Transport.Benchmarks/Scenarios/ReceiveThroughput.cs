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
    private static readonly ReceiveClient[] AllClients =
    [
        ReceiveClient.RawReused, ReceiveClient.RawOwned, ReceiveClient.WebsocketClient,
        ReceiveClient.LeafOnly, ReceiveClient.PipeLeafOnly,
        ReceiveClient.StackForeach, ReceiveClient.StackTryRead, ReceiveClient.StackBatch, ReceiveClient.StackLease,
        ReceiveClient.PipeForeach, ReceiveClient.PipeTryRead, ReceiveClient.PipeBatch, ReceiveClient.PipeLease,
    ];

    // Owned-frame clients of the stack, per leaf (the 100 B / 1 KiB targets); lease clients apart.
    private static readonly ReceiveClient[] Owned = [ReceiveClient.StackForeach, ReceiveClient.StackTryRead, ReceiveClient.StackBatch, ReceiveClient.PipeForeach, ReceiveClient.PipeTryRead, ReceiveClient.PipeBatch];
    private static readonly ReceiveClient[] Leased = [ReceiveClient.StackLease, ReceiveClient.PipeLease];

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

        // Per client, one slot per round (null when that round's run failed), so ratios pair runs of the same round.
        var samples = Clients.ToDictionary(c => c, _ => new RunSample?[settings.Rounds]);
        for (int round = 0; round < settings.Rounds; round++)
        {
            for (int i = 0; i < Clients.Length; i++)
            {
                var client = Clients[(i + round) % Clients.Length];
                GC.Collect();
                GC.WaitForPendingFinalizers();
                try
                {
                    var sample = await Receivers.RunAsync(client, server.Uri, count, payloadBytes, ring, ct);
                    samples[client][round] = sample;
                    report.Record("receive", label, client.ToString(), round, new Dictionary<string, double>
                    {
                        ["msgs_per_s"] = sample.MessagesPerSecond,
                        ["alloc_per_msg"] = sample.AllocatedPerMessage,
                        ["gen0"] = sample.Gen0,
                        ["gen1"] = sample.Gen1,
                        ["cpu_ns_per_msg"] = sample.CpuNsPerMessage,
                        ["frames_per_read"] = sample.FramesPerRead,
                    });
                }
                catch (Exception ex)
                {
                    report.Fail($"{label}, {Receivers.Name(client)}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        RunSample?[] Of(ReceiveClient c) => samples.GetValueOrDefault(c) ?? [];
        IEnumerable<RunSample> Done(ReceiveClient c) => Of(c).OfType<RunSample>();

        // Same-round ratios of a client's rate to a baseline's (rounds where both ran).
        double[] Ratios(ReceiveClient baseline, ReceiveClient mine) =>
            [.. Enumerable.Range(0, settings.Rounds)
                .Where(r => Of(baseline).ElementAtOrDefault(r) is not null && Of(mine).ElementAtOrDefault(r) is not null)
                .Select(r => Of(mine)[r]!.MessagesPerSecond / Of(baseline)[r]!.MessagesPerSecond)];
        double RatioTo(ReceiveClient baseline, ReceiveClient mine) => Stats.Median(Ratios(baseline, mine));
        string RatioRange(ReceiveClient baseline, ReceiveClient mine) =>
            Ratios(baseline, mine) is { Length: > 0 } r ? $"{r.Min():0.00}-{r.Max():0.00}" : "-";

        // Spread: (max - min) / median over the rounds, of a client's own msgs/s ("rate spread") and of its
        // same-round ratio to raw ("ratio spread"). The target: the stack's spread no wider than raw's.
        double RateSpread(ReceiveClient c) => Stats.SpreadPercent(Done(c).Select(x => x.MessagesPerSecond));
        double rawSpread = RateSpread(ReceiveClient.RawReused);

        report.Table(
            ["client", "msgs/s", "MB/s", "alloc B/msg", "gen0/1/2 per run", "CPU ns/msg", "frames/wake", "vs raw", "vs raw (range)", "ratio spread", "rate spread (raw's)", "vs raw+owned", "vs Websocket.Client"],
            Clients.Where(c => Done(c).Any()).Select(c =>
            {
                var s = Done(c).ToArray();
                return new[]
                {
                    Receivers.Name(c),
                    Report.N(Stats.Median(s.Select(x => x.MessagesPerSecond))),
                    Report.N(Stats.Median(s.Select(x => x.MegabytesPerSecond)), 1),
                    Report.N(Stats.Median(s.Select(x => x.AllocatedPerMessage)), 1),
                    $"{Stats.Median(s.Select(x => (double)x.Gen0))}/{Stats.Median(s.Select(x => (double)x.Gen1))}/{Stats.Median(s.Select(x => (double)x.Gen2))}",
                    Report.N(Stats.Median(s.Select(x => x.CpuNsPerMessage)), 0),
                    s.All(x => double.IsNaN(x.FramesPerRead)) ? "-" : Report.N(Stats.Median(s.Select(x => x.FramesPerRead)), 1),
                    Report.Ratio(RatioTo(ReceiveClient.RawReused, c)),
                    RatioRange(ReceiveClient.RawReused, c),
                    c == ReceiveClient.RawReused ? "-" : Report.Percent(Stats.SpreadPercent(Ratios(ReceiveClient.RawReused, c))),
                    $"{Report.Percent(RateSpread(c))} ({Report.Percent(rawSpread)})",
                    Report.Ratio(RatioTo(ReceiveClient.RawOwned, c)),
                    Report.Ratio(RatioTo(ReceiveClient.WebsocketClient, c)),
                };
            }));
        report.Line($"Verified: every run received all {Report.N(count)} messages in sequence (count and per-message sequence checked).");

        // Issue 14's targets for this size, from this run's same-round medians.
        string Each(IEnumerable<ReceiveClient> clients, Func<ReceiveClient, string> what) =>
            string.Join(", ", clients.Where(c => Done(c).Any()).Select(c => $"{c} {what(c)}"));
        var owned = Owned.Where(c => Done(c).Any()).ToArray();
        if (payloadBytes == 100 && owned.Length > 0)
        {
            report.Target(
                "100 B owned >= 1.0x raw",
                Each(owned, c => Report.Ratio(RatioTo(ReceiveClient.RawReused, c))),
                Done(ReceiveClient.RawReused).Any() ? owned.Max(c => RatioTo(ReceiveClient.RawReused, c)) >= 1.0 : null);
            report.Target(
                "100 B owned >= 1.5x Websocket.Client",
                Each(owned, c => Report.Ratio(RatioTo(ReceiveClient.WebsocketClient, c))),
                Done(ReceiveClient.WebsocketClient).Any() ? owned.Max(c => RatioTo(ReceiveClient.WebsocketClient, c)) >= 1.5 : null);
            var leased = Leased.Where(c => Done(c).Any()).ToArray();
            if (leased.Length > 0)
            {
                double Alloc(ReceiveClient c) => Stats.Median(Done(c).Select(x => x.AllocatedPerMessage));
                report.Target(
                    "lease >= 2x raw at 100 B, < 8 B/msg",
                    Each(leased, c => $"{Report.Ratio(RatioTo(ReceiveClient.RawReused, c))} {Report.N(Alloc(c), 1)} B/msg"),
                    Done(ReceiveClient.RawReused).Any() ? leased.Any(c => RatioTo(ReceiveClient.RawReused, c) >= 2.0 && Alloc(c) < 8) : null);
            }
        }
        else if (payloadBytes == 1024 && owned.Length > 0)
        {
            report.Target(
                "1 KiB owned >= 0.95x raw",
                Each(owned, c => Report.Ratio(RatioTo(ReceiveClient.RawReused, c))),
                Done(ReceiveClient.RawReused).Any() ? owned.Max(c => RatioTo(ReceiveClient.RawReused, c)) >= 0.95 : null);
        }

        var stack = Owned.Concat(Leased).Where(c => Done(c).Count() > 1).ToArray();
        if (stack.Length > 0 && !double.IsNaN(rawSpread))
        {
            report.Target(
                $"{label}: stack rate spread <= raw's ({Report.Percent(rawSpread)})",
                Each(stack, c => Report.Percent(RateSpread(c))),
                stack.All(c => RateSpread(c) <= rawSpread));
        }
    }
}
