using System.Diagnostics;
using System.Net.WebSockets;
using System.Threading.Channels;
using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Scenario 4: the server aborts the connection (TCP reset, no close frame); the stack (MinBackoff 0)
/// reconnects. Measured from the abort to Resumed being published and to the first frame of the
/// new epoch being consumed. Beside it, the cost of one raw handshake + first frame, measured
/// in the same run, which is the floor any reconnect pays.
/// </summary>
internal static class Recovery
{
    private sealed class ResumedObserver(long[] stamps) : IObserver<LifecycleSnapshot>
    {
        public void OnNext(LifecycleSnapshot value)
        {
            if (value.Phase == ConnectionPhase.Resumed && value.Epoch < stamps.Length && stamps[value.Epoch] == 0)
            {
                stamps[value.Epoch] = Stopwatch.GetTimestamp();
            }
        }

        public void OnError(Exception error)
        {
        }

        public void OnCompleted()
        {
        }
    }

    public static async Task RunAsync(BenchServer server, Settings settings, Report report)
    {
        int cycles = (int)settings.Scale(50, 3);
        report.Heading($"Recovery: server aborts the connection, MinBackoff 0, {cycles} cycles (ms, median / p90 / max)");
        server.Handler = Handlers.Hello(Payload.StampedBytes);
        var ct = settings.Deadline(TimeSpan.FromMinutes(3));

        // The floor: a fresh raw handshake plus its first frame, same server, same run.
        var handshake = new List<double>();
        for (int i = 0; i < cycles; i++)
        {
            long start = Stopwatch.GetTimestamp();
            var socket = await Connect.RawAsync(server.Uri, ct);
            var buffer = new byte[256];
            var result = await socket.ReceiveAsync(buffer.AsMemory(), ct);
            handshake.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            if (!result.EndOfMessage || result.MessageType != WebSocketMessageType.Text)
            {
                report.Fail("recovery: the raw handshake's first frame was not a whole text message");
            }

            socket.Abort();
            socket.Dispose();
        }

        var resumedStamps = new long[cycles + 2];
        var firstFrames = Channel.CreateUnbounded<(long Seq, long Stamp)>();
        await using var connection = await Connect.StackAsync(server.Uri, null, ct);
        using var subscription = connection.Lifecycle.Subscribe(new ResumedObserver(resumedStamps));
        var consumer = Task.Run(async () =>
        {
            await foreach (var frame in connection.Source.WithCancellation(ct))
            {
                long now = Stopwatch.GetTimestamp();
                firstFrames.Writer.TryWrite((Payload.ReadSeq(frame.Payload.Span), now));
            }
        }, ct);

        var toResumed = new List<double>();
        var toFirstFrame = new List<double>();
        try
        {
            // Connection k (1-based on the server) sends sequence k as its first frame.
            var first = await firstFrames.Reader.ReadAsync(ct);
            long expected = first.Seq;
            for (int cycle = 0; cycle < cycles; cycle++)
            {
                var serverSide = server.Current!;
                if (serverSide.Index != expected)
                {
                    throw new InvalidOperationException($"Server connection {serverSide.Index} but the consumer saw {expected}.");
                }

                long epochBefore = connection.Lifecycle.Current.Epoch;
                long t0 = Stopwatch.GetTimestamp();
                serverSide.Abort();
                var (seq, stamp) = await firstFrames.Reader.ReadAsync(ct);
                if (seq != expected + 1)
                {
                    throw new InvalidOperationException($"Expected the first frame of connection {expected + 1}, got {seq}.");
                }

                var snapshot = await connection.Lifecycle.WaitForEpochAfterAsync(epochBefore, ct);
                if (snapshot.Phase != ConnectionPhase.Resumed && snapshot.Phase != ConnectionPhase.Stale)
                {
                    throw new InvalidOperationException($"After the abort: {snapshot}.");
                }

                toFirstFrame.Add(Ticks(stamp - t0));
                long resumed = resumedStamps[epochBefore + 1];
                if (resumed != 0)
                {
                    toResumed.Add(Ticks(resumed - t0));
                }

                expected = seq;
            }
        }
        catch (Exception ex)
        {
            report.Fail($"recovery: {ex.GetType().Name}: {ex.Message}");
        }

        static double Ticks(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        static string[] Row(string what, List<double> ms)
        {
            var sorted = ms.OrderBy(x => x).ToArray();
            return [what, Report.N(Stats.Median(sorted), 2), Report.N(Stats.Percentile(sorted, 90), 2), Report.N(sorted.LastOrDefault(), 2), sorted.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        }

        report.Table(
            ["measure", "median", "p90", "max", "samples"],
            [
                Row("raw handshake + first frame (the floor)", handshake),
                Row("stack: abort -> Resumed published", toResumed),
                Row("stack: abort -> first frame of new epoch consumed", toFirstFrame),
            ]);
        report.Line($"Stack median minus handshake median: {Report.N(Stats.Median(toFirstFrame) - Stats.Median(handshake), 2)} ms (target < 5 ms). Resumed observed in {toResumed.Count}/{cycles} cycles (coalescing may skip one).");
        if (toFirstFrame.Count != cycles)
        {
            report.Fail($"recovery: {toFirstFrame.Count} of {cycles} cycles completed");
        }

        await connection.Control.ShutdownAsync(ct);
        try
        {
            await consumer.WaitAsync(TimeSpan.FromSeconds(10), ct);
        }
        catch (Exception ex) when (ex is TransportException or OperationCanceledException)
        {
            // The source ends with the shutdown (or its error): expected here.
        }
    }
}
