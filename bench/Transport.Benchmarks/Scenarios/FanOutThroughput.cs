using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;
using Transport.WebSockets.FanOut;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Scenario "fanout" (issue 16): the cost of each extra fan-out subscriber at 100 B frames. The
/// server floods; the stack's Source is read directly (no fan-out), or through a
/// <see cref="FrameFanOut"/> with one measured subscriber plus 0, 1, 2 or 4 extra subscribers, each
/// drained by its own task (WaitToReadAsync + TryRead) that checks every sequence number. The
/// clock stops when every subscriber has every message; queues are large enough never to drop
/// (a drop fails the run). Same rounds, same-round ratios.
/// </summary>
internal static class FanOutThroughput
{
    private const int PayloadBytes = 100;

    // -1: no fan-out (Source read directly, the baseline); k >= 0: fan-out with 1 + k subscribers.
    private static readonly int[] Extras = [-1, 0, 1, 2, 4];

    public static async Task RunAsync(BenchServer server, Settings settings, Report report)
    {
        long count = settings.Scale(500_000, 2_000);
        report.Heading($"Fan-out: {Report.N(count)} x 100 B text to 1 + k subscribers ({settings.Rounds} rounds, medians; ratios within a round; default leaf)");
        server.Handler = Handlers.Flood(0x1, PayloadBytes, count);
        var ct = settings.Deadline(TimeSpan.FromMinutes(10));
        Action<TransportOptionsBuilder> ring = o => o.WithReceiveRing((int)count + 1, 4L * 1024 * 1024 * 1024);

        if (!settings.Quick)
        {
            foreach (int extra in Extras)
            {
                await RunOneAsync(server, extra, count, ring, ct);
            }
        }

        var samples = Extras.ToDictionary(e => e, _ => new RunSample?[settings.Rounds]);
        for (int round = 0; round < settings.Rounds; round++)
        {
            for (int i = 0; i < Extras.Length; i++)
            {
                int extra = Extras[(i + round) % Extras.Length];
                GC.Collect();
                GC.WaitForPendingFinalizers();
                try
                {
                    var sample = await RunOneAsync(server, extra, count, ring, ct);
                    samples[extra][round] = sample;
                    report.Record("fanout", "100 B text", Name(extra), round, new Dictionary<string, double>
                    {
                        ["msgs_per_s"] = sample.MessagesPerSecond,
                        ["alloc_per_msg"] = sample.AllocatedPerMessage,
                    });
                }
                catch (Exception ex)
                {
                    report.Fail($"fan-out, {Name(extra)}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        double NsPerMessage(RunSample s) => 1e9 / s.MessagesPerSecond;
        double[] SameRound(int extra, Func<RunSample, RunSample, double> f) =>
            [.. Enumerable.Range(0, settings.Rounds)
                .Where(r => samples[extra][r] is not null && samples[0][r] is not null)
                .Select(r => f(samples[extra][r]!, samples[0][r]!))];
        double[] VsDirect(int extra) =>
            [.. Enumerable.Range(0, settings.Rounds)
                .Where(r => samples[extra][r] is not null && samples[-1][r] is not null)
                .Select(r => samples[extra][r]!.MessagesPerSecond / samples[-1][r]!.MessagesPerSecond)];

        report.Table(
            ["consumers", "msgs/s (every subscriber got each)", "deliveries/s", "ns per message", "alloc B/msg", "vs Source read directly", "ns per extra subscriber (vs 0 extra, same round)"],
            Extras.Where(e => samples[e].Any(s => s is not null)).Select(e =>
            {
                var s = samples[e].OfType<RunSample>().ToArray();
                double rate = Stats.Median(s.Select(x => x.MessagesPerSecond));
                int subscribers = e < 0 ? 1 : 1 + e;
                var perExtra = e > 0 ? SameRound(e, (mine, zero) => (NsPerMessage(mine) - NsPerMessage(zero)) / e) : [];
                return new[]
                {
                    Name(e),
                    Report.N(rate),
                    Report.N(rate * subscribers),
                    Report.N(Stats.Median(s.Select(NsPerMessage)), 0),
                    Report.N(Stats.Median(s.Select(x => x.AllocatedPerMessage)), 1),
                    Report.Ratio(Stats.Median(VsDirect(e))),
                    perExtra.Length > 0 ? $"{Stats.Median(perExtra):0} ({perExtra.Min():0} to {perExtra.Max():0})" : "-",
                };
            }));
        report.Line($"Verified: every subscriber received all {Report.N(count)} messages in sequence, none dropped.");
    }

    private static string Name(int extra) => extra < 0 ? "Source read directly (no fan-out)" : $"fan-out, 1 + {extra} subscriber{(extra == 1 ? string.Empty : "s")}";

    private static async Task<RunSample> RunOneAsync(BenchServer server, int extra, long count, Action<TransportOptionsBuilder> ring, CancellationToken ct)
    {
        await using var connection = await Connect.StackAsync(server.Uri, ring, ct).ConfigureAwait(false);
        if (extra < 0)
        {
            var direct = Measurement.Start();
            await connection.Sink.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
            await DrainAsync(connection.Source, count, ct).ConfigureAwait(false);
            return direct.Stop(Name(extra), count, count * PayloadBytes);
        }

        await using var fanOut = connection.Source.FanOut();
        var options = new FanOutSubscriberOptions { CapacityFrames = (int)count + 1, CapacityBytes = 4L * 1024 * 1024 * 1024 };
        var subscribers = Enumerable.Range(0, 1 + extra).Select(_ => fanOut.Subscribe(options)).ToArray();
        fanOut.Start();
        var m = Measurement.Start();
        await connection.Sink.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        await Task.WhenAll(subscribers.Select(s => Task.Run(() => DrainAsync(s, count, ct), ct))).ConfigureAwait(false);
        var sample = m.Stop(Name(extra), count, count * PayloadBytes);
        foreach (var subscriber in subscribers)
        {
            if (subscriber.Stats.Dropped != 0)
            {
                throw new InvalidOperationException($"{subscriber.Name} dropped {subscriber.Stats.Dropped} frames.");
            }

            await subscriber.DisposeAsync().ConfigureAwait(false);
        }

        return sample;
    }

    private static async Task DrainAsync(IFrameSource source, long count, CancellationToken ct)
    {
        long received = 0;
        while (received < count && await source.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (received < count && source.TryRead(out var frame))
            {
                long seq = Payload.ReadSeq(frame.Payload.Span);
                if (seq != received)
                {
                    throw new InvalidOperationException($"Missing or reordered message: expected {received}, got {seq}.");
                }

                received++;
            }
        }

        if (received != count)
        {
            throw new InvalidOperationException($"The source ended after {received} of {count} messages.");
        }
    }
}
