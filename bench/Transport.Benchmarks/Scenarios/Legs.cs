using System.Diagnostics;
using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;
using Transport.WebSockets;
using Transport.WebSockets.Dedupe;
using Transport.WebSockets.Legs;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Redundant legs (issue 21): what the dedupe costs per frame, and the p99 it adds at 10k and 100k msgs/s when
/// two legs carry the same stamped feed (the server writes every message to both sockets) against one
/// connection (the Pipelines leaf, the default), alternating round by round. Latency as in the latency
/// scenario: the server's write stamp (of the copy delivered) to the consumer's read.
/// </summary>
internal static class Legs
{
    private const int PayloadBytes = 100;

    // Every bench message is keyed by its sequence (the first 16 hex bytes of the payload), one stream.
    private static readonly FrameKeySelector Keys = static (in Frame frame, out DedupeKey key) =>
    {
        key = new DedupeKey(1, Payload.ReadSeq(frame.Payload.Span));
        return true;
    };

    public static async Task RunAsync(BenchServer server, Settings settings, Report report)
    {
        DedupeCost(settings, report);
        await RunRateAsync(server, settings, report, 10_000, settings.Scale(50_000, 2_000));
        await RunRateAsync(server, settings, report, 100_000, settings.Scale(200_000, 2_000));
    }

    // The window alone and the arbiter with the selector, on one thread: ns per frame (a tight loop; the
    // micro benchmark DedupeBenchmarks measures the same with BenchmarkDotNet).
    private static void DedupeCost(Settings settings, Report report)
    {
        int n = (int)settings.Scale(2_000_000, 200_000);
        report.Heading($"Dedupe cost per frame: {Report.N(n)} keys through a window of 100,000 (count bound reached), one thread");
        var frames = new Frame[1024];
        long frequency = Stopwatch.Frequency;
        var rows = new List<string[]>();
        for (int round = 0; round < settings.Rounds; round++)
        {
            var window = new DedupeWindow(new DedupeWindowOptions(), frequency);
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < n; i++)
            {
                window.TryAdmit(new DedupeKey(1, i), t0);
            }

            long t1 = Stopwatch.GetTimestamp();
            for (int i = 0; i < n; i++)
            {
                window.TryAdmit(new DedupeKey(1, n - 1 - (i % 50_000)), t1);
            }

            long t2 = Stopwatch.GetTimestamp();
            var arbiter = new LegArbiter(2, Keys, new DedupeWindowOptions(), UnkeyedFramePolicy.PrimaryOnly, frequency);
            var payloads = new byte[frames.Length][];
            for (int i = 0; i < frames.Length; i++)
            {
                payloads[i] = new byte[PayloadBytes];
                frames[i] = Frame.Binary(payloads[i]);
            }

            long t3 = Stopwatch.GetTimestamp();
            for (int i = 0; i < n; i++)
            {
                // Leg 0 offers message i/2 (a new key: the window at its bound evicts one), leg 1 its copy right
                // after (a duplicate). Includes writing the test payload's sequence (16 hex digits) once per message.
                int slot = (i >> 1) & 1023;
                if ((i & 1) == 0)
                {
                    Payload.WriteHex(payloads[slot], i >> 1);
                }

                arbiter.Offer(i & 1, frames[slot], t3, primary: 0);
            }

            long t4 = Stopwatch.GetTimestamp();
            double Ns(long from, long to) => (to - from) * 1e9 / frequency / n;
            rows.Add([round.ToString(System.Globalization.CultureInfo.InvariantCulture), Report.N(Ns(t0, t1), 1), Report.N(Ns(t1, t2), 1), Report.N(Ns(t3, t4), 1)]);
            report.Record("legs-dedupe", "ns/frame", "window", round, new Dictionary<string, double> { ["admit_ns"] = Ns(t0, t1), ["duplicate_ns"] = Ns(t1, t2), ["arbiter_ns"] = Ns(t3, t4) });
        }

        report.Table(["round", "new key (admit + evict), ns", "duplicate, ns", "arbiter, per offer (half new, half copies): selector + window + counts, ns"], rows);
    }

    private static async Task RunRateAsync(BenchServer server, Settings settings, Report report, int perSecond, long count)
    {
        int rounds = settings.Rounds;
        report.Heading($"Legs latency at {Report.N(perSecond)} msgs/s: {Report.N(count)} x 100 B text per run and per socket, {rounds} rounds (server write to consumer read, µs; first 10% discarded)");
        server.Handler = Handlers.Paced(0x1, PayloadBytes, count, perSecond);
        var ct = settings.Deadline(TimeSpan.FromMinutes(5));
        (string Name, Func<Uri, long, CancellationToken, Task<double[]>> Run)[] clients =
        [
            ("one connection, await foreach", OneAsync),
            ("2 legs, await foreach", TwoLegsAsync),
        ];
        var runs = clients.Select(_ => new List<double[]>()).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            for (int i = 0; i < clients.Length; i++)
            {
                int k = (i + round) % clients.Length;
                try
                {
                    var sorted = await clients[k].Run(server.Uri, count, ct);
                    runs[k].Add(sorted);
                    report.Record("legs", $"{perSecond}/s", clients[k].Name, round, new Dictionary<string, double>
                    {
                        ["p50_us"] = Stats.Percentile(sorted, 50),
                        ["p99_us"] = Stats.Percentile(sorted, 99),
                        ["p999_us"] = Stats.Percentile(sorted, 99.9),
                    });
                }
                catch (Exception ex)
                {
                    report.Fail($"legs {perSecond}/s, {clients[k].Name}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        double P(List<double[]> r, double p) => r.Count == 0 ? double.NaN : Stats.Median(r.Select(x => Stats.Percentile(x, p)));
        int paired = Math.Min(runs[0].Count, runs[1].Count);
        double Added(double p) => paired == 0 ? double.NaN : Stats.Median(Enumerable.Range(0, paired).Select(r => Stats.Percentile(runs[1][r], p) - Stats.Percentile(runs[0][r], p)));
        double Ratio(double p) => paired == 0 ? double.NaN : Stats.Median(Enumerable.Range(0, paired).Select(r => Stats.Percentile(runs[1][r], p) / Stats.Percentile(runs[0][r], p)));
        report.Table(
            ["client", "p50", "p99", "p99.9", "max (median of runs)"],
            clients.Select((c, k) => new[] { c.Name, Report.N(P(runs[k], 50), 1), Report.N(P(runs[k], 99), 1), Report.N(P(runs[k], 99.9), 1), Report.N(P(runs[k], 100), 1) }));
        report.Line($"2 legs vs one connection, same round (median of rounds): p50 +{Report.N(Added(50), 1)} µs ({Report.Ratio(Ratio(50))}), p99 +{Report.N(Added(99), 1)} µs ({Report.Ratio(Ratio(99))}), p99.9 +{Report.N(Added(99.9), 1)} µs");
    }

    private static async Task<double[]> OneAsync(Uri uri, long count, CancellationToken ct)
    {
        await using var connection = await Connect.StackAsync(uri, null, ct, pipes: true).ConfigureAwait(false);
        await connection.Sink.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        return await ReadAsync(connection.Source, count, ct).ConfigureAwait(false);
    }

    private static async Task<double[]> TwoLegsAsync(Uri uri, long count, CancellationToken ct)
    {
        var connector = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri(uri).WithLeaf(LeafKind.Pipelines)
                .WithBackoff(TimeSpan.Zero, TimeSpan.FromSeconds(1), useJitter: false)
                .WithAttemptRateLimit(1_000_000, TimeSpan.FromMinutes(1)))
            .Build();
        await using var legs = new RedundantConnection(new RedundantConnectionOptions { Name = "bench", KeySelector = Keys }, connector);
        foreach (var leg in legs.Legs)
        {
            await leg.Lifecycle.WaitUntilUpAsync(ct).ConfigureAwait(false);
        }

        if (await legs.SendToAllAsync(Frame.Text(Connect.Go), default, ct).ConfigureAwait(false) != 2)
        {
            throw new InvalidOperationException("A leg went down before its go.");
        }

        return await ReadAsync(legs.Source, count, ct).ConfigureAwait(false);
    }

    private static async Task<double[]> ReadAsync(IFrameSource source, long count, CancellationToken ct)
    {
        var ticks = new long[count];
        long received = 0;
        await foreach (var frame in source.WithCancellation(ct).ConfigureAwait(false))
        {
            long now = Stopwatch.GetTimestamp();
            var span = frame.Payload.Span;
            if (Payload.ReadSeq(span) != received)
            {
                throw new InvalidOperationException($"Missing message {received} (got {Payload.ReadSeq(span)}).");
            }

            ticks[received++] = now - Payload.ReadStamp(span);
            if (received == count)
            {
                break;
            }
        }

        if (received != count)
        {
            throw new InvalidOperationException($"The source ended after {received} of {count} messages.");
        }

        int skip = ticks.Length / 10;
        var us = new double[ticks.Length - skip];
        for (int i = skip; i < ticks.Length; i++)
        {
            us[i - skip] = ticks[i] * 1e6 / Stopwatch.Frequency;
        }

        Array.Sort(us);
        return us;
    }
}
