using System.Net.WebSockets;
using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Scenario "batch" (issue 16): N frames sent as one <c>Sink.SendBatchAsync</c> against the same N
/// frames as N awaited <c>Sink.SendAsync</c> calls (and raw ClientWebSocket's N awaited sends), 100 B
/// text, rate limit off. The clock runs from the first send until the server has parsed the last
/// frame. Same rounds, same-round ratios.
/// </summary>
internal static class BatchSend
{
    private const int PayloadBytes = 100;

    private static readonly (string Name, int Batch)[] Clients =
    [
        ("raw: N awaited SendAsync", 0),
        ("stack: N awaited SendAsync", 1),
        ("stack: SendBatchAsync of 10", 10),
        ("stack: SendBatchAsync of 100", 100),
    ];

    public static async Task RunAsync(BenchServer server, Settings settings, Report report)
    {
        long count = settings.Scale(200_000, 2_000);
        report.Heading($"Batch send: {Report.N(count)} x 100 B text as single awaited sends or as awaited batches ({settings.Rounds} rounds, medians; ratios within a round)");
        server.Handler = Handlers.Sink();
        var payload = new byte[PayloadBytes];
        payload.AsSpan().Fill((byte)'x');
        var ct = settings.Deadline(TimeSpan.FromMinutes(5));

        if (!settings.Quick)
        {
            for (int c = 0; c < Clients.Length; c++)
            {
                await RunOneAsync(Clients[c].Batch, server, payload, count / 4, ct);
            }
        }

        var samples = Clients.Select(_ => new RunSample?[settings.Rounds]).ToArray();
        for (int round = 0; round < settings.Rounds; round++)
        {
            for (int i = 0; i < Clients.Length; i++)
            {
                int c = (i + round) % Clients.Length;
                GC.Collect();
                try
                {
                    var sample = await RunOneAsync(Clients[c].Batch, server, payload, count, ct);
                    samples[c][round] = sample;
                    report.Record("batch", "100 B text", Clients[c].Name, round, new Dictionary<string, double>
                    {
                        ["frames_per_s"] = sample.MessagesPerSecond,
                        ["alloc_per_frame"] = sample.AllocatedPerMessage,
                    });
                }
                catch (Exception ex)
                {
                    report.Fail($"batch send, {Clients[c].Name}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        double VsClient(int baseline, int mine) => Stats.Median(
            Enumerable.Range(0, settings.Rounds)
                .Where(r => samples[baseline][r] is not null && samples[mine][r] is not null)
                .Select(r => samples[mine][r]!.MessagesPerSecond / samples[baseline][r]!.MessagesPerSecond));
        report.Table(
            ["client", "frames/s (to server)", "alloc B/frame", "gen0/1/2 per run", "vs raw", "vs stack N awaited SendAsync"],
            Enumerable.Range(0, Clients.Length).Where(c => samples[c].Any(s => s is not null)).Select(c =>
            {
                var s = samples[c].OfType<RunSample>().ToArray();
                return new[]
                {
                    Clients[c].Name,
                    Report.N(Stats.Median(s.Select(x => x.MessagesPerSecond))),
                    Report.N(Stats.Median(s.Select(x => x.AllocatedPerMessage)), 1),
                    $"{Stats.Median(s.Select(x => (double)x.Gen0))}/{Stats.Median(s.Select(x => (double)x.Gen1))}/{Stats.Median(s.Select(x => (double)x.Gen2))}",
                    Report.Ratio(VsClient(0, c)),
                    Report.Ratio(VsClient(1, c)),
                };
            }));
        report.Line($"Verified: the server counted all {Report.N(count)} frames in every run.");
    }

    private static async Task<RunSample> RunOneAsync(int batch, BenchServer server, byte[] payload, long count, CancellationToken ct)
    {
        int before = server.Connections;
        if (batch == 0)
        {
            var socket = await Connect.RawAsync(server.Uri, ct).ConfigureAwait(false);
            var connection = await SendThroughput.WaitForConnectionAsync(server, before, ct).ConfigureAwait(false);
            var arrived = connection.WaitForCountAsync(count);
            var m = Measurement.Start();
            for (long i = 0; i < count; i++)
            {
                await socket.SendAsync(payload, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
            }

            await arrived.WaitAsync(ct).ConfigureAwait(false);
            var sample = m.Stop("raw", count, count * payload.Length);
            await Connect.CloseRawAsync(socket).ConfigureAwait(false);
            return sample;
        }

        await using var stack = await Connect.StackAsync(server.Uri, null, ct).ConfigureAwait(false);
        var serverSide = await SendThroughput.WaitForConnectionAsync(server, before, ct).ConfigureAwait(false);
        var done = serverSide.WaitForCountAsync(count);
        var frame = Frame.Text(payload);
        var frames = Enumerable.Repeat(frame, batch).ToArray(); // one reusable list: SendBatchAsync copies it
        var measurement = Measurement.Start();
        if (batch == 1)
        {
            for (long i = 0; i < count; i++)
            {
                await stack.Sink.SendAsync(frame, ct).ConfigureAwait(false);
            }
        }
        else
        {
            for (long i = 0; i < count; i += batch)
            {
                await stack.Sink.SendBatchAsync(frames, default, ct).ConfigureAwait(false);
            }
        }

        await done.WaitAsync(ct).ConfigureAwait(false);
        return measurement.Stop("stack", count, count * payload.Length);
    }
}
