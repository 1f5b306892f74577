using System.Diagnostics;
using System.Net.WebSockets;
using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Scenario 3: sending. The clock runs from the first send until the server has parsed the last
/// frame, so every client is measured to the same point (on the wire and read back).
/// </summary>
internal static class SendThroughput
{
    private const int PayloadBytes = 100;

    private static readonly string[] Clients = ["raw SendAsync (awaited)", "stack SendAsync (awaited)", "stack TrySend burst"];

    public static async Task RunAsync(BenchServer server, Settings settings, Report report)
    {
        long count = settings.Scale(200_000, 2_000);
        report.Heading($"Send: {Report.N(count)} x 100 B text, rate limit off ({settings.Rounds} rounds, medians; ratios within a round)");
        server.Handler = Handlers.Sink();
        var payload = new byte[PayloadBytes];
        payload.AsSpan().Fill((byte)'x');
        var ct = settings.Deadline(TimeSpan.FromMinutes(5));

        if (!settings.Quick)
        {
            for (int c = 0; c < Clients.Length; c++)
            {
                await RunOneAsync(c, server, payload, count / 4, ct);
            }
        }

        var samples = Enumerable.Range(0, Clients.Length).Select(_ => new List<(RunSample Sample, double EnqueuePerSecond)>()).ToArray();
        for (int round = 0; round < settings.Rounds; round++)
        {
            for (int i = 0; i < Clients.Length; i++)
            {
                int c = (i + round) % Clients.Length;
                GC.Collect();
                try
                {
                    samples[c].Add(await RunOneAsync(c, server, payload, count, ct));
                }
                catch (Exception ex)
                {
                    report.Fail($"send, {Clients[c]}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        var raw = samples[0];
        report.Table(
            ["client", "frames/s (to server)", "alloc B/send", "gen0/1/2 per run", "vs raw", "TrySend calls/s (enqueue only)"],
            Enumerable.Range(0, Clients.Length).Where(c => samples[c].Count > 0).Select(c =>
            {
                var s = samples[c];
                return new[]
                {
                    Clients[c],
                    Report.N(Stats.Median(s.Select(x => x.Sample.MessagesPerSecond))),
                    Report.N(Stats.Median(s.Select(x => x.Sample.AllocatedPerMessage)), 1),
                    $"{Stats.Median(s.Select(x => (double)x.Sample.Gen0))}/{Stats.Median(s.Select(x => (double)x.Sample.Gen1))}/{Stats.Median(s.Select(x => (double)x.Sample.Gen2))}",
                    Report.Ratio(Stats.Median(Enumerable.Range(0, Math.Min(raw.Count, s.Count)).Select(r => s[r].Sample.MessagesPerSecond / raw[r].Sample.MessagesPerSecond))),
                    c == 2 ? Report.N(Stats.Median(s.Select(x => x.EnqueuePerSecond))) : "-",
                };
            }));
        report.Line($"Verified: the server counted all {Report.N(count)} frames in every run.");
    }

    private static async Task<(RunSample, double)> RunOneAsync(int client, BenchServer server, byte[] payload, long count, CancellationToken ct)
    {
        var frame = Frame.Text(payload);
        int before = server.Connections;
        if (client == 0)
        {
            var socket = await Connect.RawAsync(server.Uri, ct).ConfigureAwait(false);
            var connection = await WaitForConnectionAsync(server, before, ct).ConfigureAwait(false);
            var arrived = connection.WaitForCountAsync(count);
            var m = Measurement.Start();
            for (long i = 0; i < count; i++)
            {
                await socket.SendAsync(payload, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
            }

            await arrived.WaitAsync(ct).ConfigureAwait(false);
            var sample = m.Stop(Clients[client], count, count * payload.Length);
            await Connect.CloseRawAsync(socket).ConfigureAwait(false);
            return (sample, double.NaN);
        }

        // TrySend: the whole burst fits the queue, so no call is refused (Full would be a failure here).
        Action<TransportOptionsBuilder> queue = o => o.WithSendQueue((int)count + 16, 1L << 32);
        await using var stack = await Connect.StackAsync(server.Uri, queue, ct).ConfigureAwait(false);
        var serverSide = await WaitForConnectionAsync(server, before, ct).ConfigureAwait(false);
        var done = serverSide.WaitForCountAsync(count);
        var measurement = Measurement.Start();
        double enqueueRate = double.NaN;
        if (client == 1)
        {
            for (long i = 0; i < count; i++)
            {
                await stack.Sink.SendAsync(frame, ct).ConfigureAwait(false);
            }
        }
        else
        {
            long start = Stopwatch.GetTimestamp();
            for (long i = 0; i < count; i++)
            {
                var status = stack.Sink.TrySend(frame);
                if (status != SendStatus.Accepted)
                {
                    throw new InvalidOperationException($"TrySend #{i} answered {status}.");
                }
            }

            enqueueRate = count / Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        await done.WaitAsync(ct).ConfigureAwait(false);
        return (measurement.Stop(Clients[client], count, count * payload.Length), enqueueRate);
    }

    internal static async Task<ServerConnection> WaitForConnectionAsync(BenchServer server, int before, CancellationToken ct)
    {
        while (server.Connections <= before || server.Current is null || server.Current.Index <= before)
        {
            await Task.Delay(1, ct).ConfigureAwait(false);
        }

        return server.Current;
    }
}
