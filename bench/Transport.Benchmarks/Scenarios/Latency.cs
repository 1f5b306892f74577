using System.Diagnostics;
using System.Net.WebSockets;
using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Scenario 2: latency from the server's write (Stopwatch stamp in the payload: same process, same
/// clock) to the consumer's read, at fixed rates, raw and full stack alternating round by round.
/// </summary>
internal static class Latency
{
    private const int PayloadBytes = 100;

    public static async Task RunAsync(BenchServer server, Settings settings, Report report)
    {
        await RunRateAsync(server, settings, report, 10_000, settings.Scale(30_000, 2_000));
        await RunRateAsync(server, settings, report, 100_000, settings.Scale(200_000, 2_000));
    }

    private static async Task RunRateAsync(BenchServer server, Settings settings, Report report, int perSecond, long count)
    {
        int rounds = settings.Quick ? 1 : 3;
        report.Heading($"Latency at {Report.N(perSecond)} msgs/s: {Report.N(count)} x 100 B text per run, {rounds} rounds (server write to consumer read, µs; first 10% of each run discarded)");
        server.Handler = Handlers.Paced(0x1, PayloadBytes, count, perSecond);
        var ct = settings.Deadline(TimeSpan.FromMinutes(5));
        var raw = new List<double[]>();
        var stack = new List<double[]>();
        for (int round = 0; round < rounds; round++)
        {
            for (int i = 0; i < 2; i++)
            {
                bool isRaw = (i + round) % 2 == 0;
                try
                {
                    var latencies = isRaw ? await RawAsync(server.Uri, count, ct) : await StackAsync(server.Uri, count, ct);
                    (isRaw ? raw : stack).Add(latencies);
                }
                catch (Exception ex)
                {
                    report.Fail($"latency {perSecond}/s, {(isRaw ? "raw" : "stack")}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        double P(List<double[]> runs, double p) => Stats.Median(runs.Select(r => Stats.Percentile(r, p)));
        double SameRound(double p) => Stats.Median(Enumerable.Range(0, Math.Min(raw.Count, stack.Count)).Select(r => Stats.Percentile(stack[r], p) / Stats.Percentile(raw[r], p)));
        report.Table(
            ["client", "p50", "p99", "p99.9", "max (median of runs)"],
            [
                ["raw, reused buffer", Report.N(P(raw, 50), 1), Report.N(P(raw, 99), 1), Report.N(P(raw, 99.9), 1), Report.N(P(raw, 100), 1)],
                ["stack, await foreach", Report.N(P(stack, 50), 1), Report.N(P(stack, 99), 1), Report.N(P(stack, 99.9), 1), Report.N(P(stack, 100), 1)],
                ["stack / raw (same round, median)", Report.Ratio(SameRound(50)), Report.Ratio(SameRound(99)), Report.Ratio(SameRound(99.9)), "-"],
            ]);
    }

    private static double[] Summarise(long[] ticks)
    {
        int skip = ticks.Length / 10;
        var us = new double[ticks.Length - skip];
        for (int i = skip; i < ticks.Length; i++)
        {
            us[i - skip] = ticks[i] * 1e6 / Stopwatch.Frequency;
        }

        Array.Sort(us);
        return us;
    }

    private static async Task<double[]> RawAsync(Uri uri, long count, CancellationToken ct)
    {
        var socket = await Connect.RawAsync(uri, ct).ConfigureAwait(false);
        var buffer = new byte[Receivers.RawBufferBytes];
        var ticks = new long[count];
        await socket.SendAsync(Connect.Go, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
        int pos = 0;
        long received = 0;
        while (received < count)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(pos), ct).ConfigureAwait(false);
            pos += result.Count;
            if (result.EndOfMessage)
            {
                long now = Stopwatch.GetTimestamp();
                if (Payload.ReadSeq(buffer) != received)
                {
                    throw new InvalidOperationException($"Missing message {received}.");
                }

                ticks[received++] = now - Payload.ReadStamp(buffer);
                pos = 0;
            }
        }

        await Connect.CloseRawAsync(socket).ConfigureAwait(false);
        return Summarise(ticks);
    }

    private static async Task<double[]> StackAsync(Uri uri, long count, CancellationToken ct)
    {
        await using var connection = await Connect.StackAsync(uri, null, ct).ConfigureAwait(false);
        var ticks = new long[count];
        await connection.Sink.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        long received = 0;
        await foreach (var frame in connection.Source.WithCancellation(ct).ConfigureAwait(false))
        {
            long now = Stopwatch.GetTimestamp();
            var span = frame.Payload.Span;
            if (Payload.ReadSeq(span) != received)
            {
                throw new InvalidOperationException($"Missing message {received}.");
            }

            ticks[received] = now - Payload.ReadStamp(span);
            if (++received == count)
            {
                break;
            }
        }

        if (received != count)
        {
            throw new InvalidOperationException($"The source ended after {received} of {count} messages.");
        }

        return Summarise(ticks);
    }
}
