using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Scenario "sendload" (issue 24): an order's latency from the send call to the server's receipt while the
/// same connection receives a flood. The in-process server writes 100 B text at 100k msgs/s (paced, ~1 ms
/// writes) from the client's "go" until the client closes; after 200 ms of flood the client sends one
/// 100 B order per millisecond, each carrying its sequence number and the timestamp taken immediately
/// before the send call; the server's reader records now - stamp when it parses the order (same process,
/// same clock). Every client drains the flood on its own receive path meanwhile, so the send path competes
/// with the receive path exactly as in a trading adapter.
/// </summary>
/// <remarks>
/// Clients: raw <see cref="ClientWebSocket.SendAsync(ReadOnlyMemory{byte}, WebSocketMessageType, bool, CancellationToken)"/>
/// (its receive loop drains the flood), Websocket.Client 5.5.1 <c>SendInstant</c> (awaited), this stack's
/// awaited <c>SendAsync</c>, <c>TrySend</c>, <c>SendBatchAsync</c> (4 orders every 4 ms, each stamped at the
/// call) and <c>SendAsync</c> with a send rate limit of 10,000 frames/s on (the orders never exceed it, so a
/// frame always has room and must not wait). BENCH_SENDLOAD_CLIENTS (keys below, comma-separated) runs a subset.
/// </remarks>
internal static class SendLoad
{
    private const int PayloadBytes = 100;
    private const int FloodPerSecond = 100_000;

    private static readonly (string Name, string Key)[] Clients =
    [
        ("raw ClientWebSocket.SendAsync", "raw"),
        ("Websocket.Client 5.5.1 SendInstant", "wsclient"),
        ("stack SendAsync (awaited)", "sendasync"),
        ("stack TrySend", "trysend"),
        ("stack SendBatchAsync (4 per 4 ms)", "batch"),
        ("stack SendAsync, rate limit 10,000/s on", "limited"),
    ];

    // The run in progress: the server's reader records each order's latency here.
    private static OrderLog? s_log;

    private sealed record Run(double[] Sorted, double CpuNsPerReceived, long Received);

    /// <summary>Orders received by the server: latency ticks by sequence number.</summary>
    private sealed class OrderLog(int count)
    {
        private readonly long[] _ticks = new long[count];
        private int _received;

        public int Received => Volatile.Read(ref _received);

        public void OnData(ReadOnlySpan<byte> first)
        {
            long now = Stopwatch.GetTimestamp();
            if (first.Length < Payload.StampedBytes || first[0] == (byte)'x')
            {
                return; // "go", or anything that is not an order
            }

            long seq = Payload.ReadSeq(first);
            if (seq >= 0 && seq < _ticks.Length)
            {
                _ticks[seq] = now - Payload.ReadStamp(first);
                Interlocked.Increment(ref _received);
            }
        }

        public double[] Sorted()
        {
            var all = _ticks.Select(t => t * 1e6 / Stopwatch.Frequency).ToArray();
            Array.Sort(all);
            return all;
        }
    }

    public static async Task RunAsync(BenchServer server, Settings settings, Report report)
    {
        int orders = (int)settings.Scale(5_000, 200);
        var only = Environment.GetEnvironmentVariable("BENCH_SENDLOAD_CLIENTS") is { Length: > 0 } o ? o.Split(',') : null;
        var clients = Clients.Where(c => only is null || c.Key == "raw" || only.Contains(c.Key)).ToArray();
        int rounds = settings.Rounds;
        report.Heading($"Send latency under load: {Report.N(orders)} x {PayloadBytes} B orders (1 per ms) while the same connection receives {Report.N(FloodPerSecond)} msgs/s of {PayloadBytes} B; {rounds} rounds, new connection per round (µs from the send call to the server's parse)");
        server.Handler = FloodAndRecord;
        var ct = settings.Deadline(TimeSpan.FromMinutes(5 + orders * rounds * clients.Length / 30_000));
        var runs = clients.Select(_ => new List<Run>()).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            for (int i = 0; i < clients.Length; i++)
            {
                int k = (i + round) % clients.Length;
                try
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    var run = await RunOneAsync(clients[k].Key, server, orders, ct).ConfigureAwait(false);
                    runs[k].Add(run);
                    report.Record("sendload", "100k/s", clients[k].Name, round, new Dictionary<string, double>
                    {
                        ["p50_us"] = Stats.Percentile(run.Sorted, 50),
                        ["p99_us"] = Stats.Percentile(run.Sorted, 99),
                        ["p99.9_us"] = Stats.Percentile(run.Sorted, 99.9),
                        ["p100_us"] = Stats.Percentile(run.Sorted, 100),
                        ["cpu_ns_per_msg"] = run.CpuNsPerReceived,
                        ["received"] = run.Received,
                    });
                }
                catch (Exception ex)
                {
                    report.Fail($"sendload, {clients[k].Name}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        double P(int k, double p) => Stats.Median(runs[k].Select(x => Stats.Percentile(x.Sorted, p)));
        double SameRound(int k, double p) => Stats.Median(
            Enumerable.Range(0, Math.Min(runs[0].Count, runs[k].Count)).Select(i => Stats.Percentile(runs[k][i].Sorted, p) / Stats.Percentile(runs[0][i].Sorted, p)));
        string Range(int k, double p)
        {
            var x = Enumerable.Range(0, Math.Min(runs[0].Count, runs[k].Count)).Select(i => Stats.Percentile(runs[k][i].Sorted, p) / Stats.Percentile(runs[0][i].Sorted, p)).ToArray();
            return x.Length == 0 ? "-" : $"{x.Min():0.00}-{x.Max():0.00}";
        }

        var present = Enumerable.Range(0, clients.Length).Where(k => runs[k].Count > 0).ToArray();
        report.Table(
            ["client", "p50", "p99", "p99.9", "max", "p50 vs raw", "p99 vs raw (range)", "CPU ns per received msg", "flood msgs received per round"],
            present.Select(k => new[]
            {
                clients[k].Name,
                Report.N(P(k, 50), 1), Report.N(P(k, 99), 1), Report.N(P(k, 99.9), 1), Report.N(P(k, 100), 1),
                Report.Ratio(SameRound(k, 50)),
                $"{Report.Ratio(SameRound(k, 99))} ({Range(k, 99)})",
                Report.N(Stats.Median(runs[k].Select(x => x.CpuNsPerReceived))),
                Report.N(Stats.Median(runs[k].Select(x => (double)x.Received))),
            }));
        report.Line("CPU is the whole process's (the in-process server's flood writer and order reader included) divided by the flood messages the client received: compare clients, not absolute values.");

        if (runs[0].Count > 0)
        {
            foreach (var k in present.Where(k => clients[k].Key is "sendasync" or "trysend" or "limited"))
            {
                report.Target($"send under load p99 <= 1.2x raw, {clients[k].Name}", $"{Report.Ratio(SameRound(k, 99))} (range {Range(k, 99)})", SameRound(k, 99) <= 1.2);
            }
        }
    }

    // Server: records every order, floods until the client closes.
    private static async Task FloodAndRecord(ServerConnection connection)
    {
        var log = s_log ?? throw new InvalidOperationException("No send-load run in progress.");
        connection.OnData = log.OnData;
        var stop = new CancellationTokenSource();
        Task? writing = null;
        var draining = connection.DrainUntilCloseAsync(async () =>
        {
            stop.Cancel(); // the close arrived: stop the flood before the close reply (one writer at a time)
            if (writing is not null)
            {
                await writing.ConfigureAwait(false);
            }
        });
        await Task.WhenAny(connection.FirstMessage, draining).ConfigureAwait(false);
        if (connection.FirstMessage.IsCompletedSuccessfully)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var thread = new Thread(() =>
            {
                try
                {
                    Flood(connection, stop.Token);
                    done.TrySetResult();
                }
                catch (Exception ex) when (stop.IsCancellationRequested || connection.ClientGone)
                {
                    _ = ex;
                    done.TrySetResult(); // the client left while a write was in flight: the end of the run
                }
                catch (Exception ex)
                {
                    done.TrySetException(ex);
                }
            })
            { IsBackground = true, Name = "sendload flood" };
            thread.Start();
            writing = done.Task;
        }

        await draining.ConfigureAwait(false);
        stop.Cancel();
        if (writing is not null)
        {
            await writing.ConfigureAwait(false);
        }
    }

    private static void Flood(ServerConnection connection, CancellationToken stop)
    {
        var block = new FrameBlock(0x1, PayloadBytes, 256);
        double ticksPerMessage = (double)Stopwatch.Frequency / FloodPerSecond;
        long start = Stopwatch.GetTimestamp();
        long sent = 0;
        while (!stop.IsCancellationRequested)
        {
            long due = (long)((Stopwatch.GetTimestamp() - start) / ticksPerMessage) + 1;
            if (due <= sent)
            {
                Thread.Sleep(1); // as Handlers.Paced: sleep, do not spin a core away from the client
                continue;
            }

            int n = (int)Math.Min(block.Frames, due - sent);
            connection.Stream.WriteAsync(block.Prepare(sent, n, Stopwatch.GetTimestamp())).AsTask().GetAwaiter().GetResult();
            sent += n;
        }
    }

    private static void Stamp(byte[] order, long seq)
    {
        Payload.WriteHex(order, seq);
        Payload.WriteHex(order.AsSpan(Payload.SeqBytes), Stopwatch.GetTimestamp());
    }

    private static byte[] NewOrder()
    {
        var order = new byte[PayloadBytes];
        order.AsSpan().Fill((byte)'o');
        return order;
    }

    private static async Task<Run> RunOneAsync(string key, BenchServer server, int orders, CancellationToken ct)
    {
        var log = new OrderLog(orders);
        s_log = log;
        long received = 0;
        long cpuStart = Environment.CpuUsage.TotalTime.Ticks;
        switch (key)
        {
            case "raw":
                received = await RawAsync(server, orders, log, ct).ConfigureAwait(false);
                break;
            case "wsclient":
                received = await WebsocketClientAsync(server, orders, log, ct).ConfigureAwait(false);
                break;
            default:
                received = await StackAsync(key, server, orders, log, ct).ConfigureAwait(false);
                break;
        }

        var cpu = TimeSpan.FromTicks(Environment.CpuUsage.TotalTime.Ticks - cpuStart);
        s_log = null;
        return new Run(log.Sorted(), cpu.TotalNanoseconds / Math.Max(1, received), received);
    }

    private static async Task WaitForOrdersAsync(OrderLog log, int orders, CancellationToken ct)
    {
        while (log.Received < orders)
        {
            await Task.Delay(1, ct).ConfigureAwait(false);
        }
    }

    private static async Task<long> RawAsync(BenchServer server, int orders, OrderLog log, CancellationToken ct)
    {
        var socket = await Connect.RawAsync(server.Uri, ct).ConfigureAwait(false);
        long received = 0;
        using var closing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var drain = Task.Run(async () =>
        {
            var buffer = new byte[Receivers.RawBufferBytes];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(), closing.Token).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                if (result.EndOfMessage)
                {
                    Interlocked.Increment(ref received);
                }
            }
        }, CancellationToken.None);
        await socket.SendAsync(Connect.Go, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
        await Task.Delay(200, ct).ConfigureAwait(false);
        var order = NewOrder();
        for (int i = 0; i < orders; i++)
        {
            Stamp(order, i);
            await socket.SendAsync(order, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
            await Task.Delay(1, ct).ConfigureAwait(false);
        }

        await WaitForOrdersAsync(log, orders, ct).ConfigureAwait(false);
        long total = Interlocked.Read(ref received);

        // Close: the server stops the flood, answers; the drain sees the close.
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, string.Empty, ct).ConfigureAwait(false);
        try
        {
            await drain.WaitAsync(TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        }
        catch (Exception) when (socket.State != WebSocketState.Open)
        {
            // The socket ended while the drain read the rest of the flood: the run is over either way.
        }

        socket.Dispose();
        return total;
    }

    private static async Task<long> WebsocketClientAsync(BenchServer server, int orders, OrderLog log, CancellationToken ct)
    {
        using var client = new Websocket.Client.WebsocketClient(server.Uri) { IsReconnectionEnabled = false, ReconnectTimeout = null };
        long received = 0;
        using var subscription = client.MessageReceived.Subscribe(_ => Interlocked.Increment(ref received));
        await client.StartOrFail().ConfigureAwait(false);
        await client.SendInstant("go").ConfigureAwait(false);
        await Task.Delay(200, ct).ConfigureAwait(false);
        var order = NewOrder();
        for (int i = 0; i < orders; i++)
        {
            Stamp(order, i);
            await client.SendInstant(Encoding.ASCII.GetString(order)).WaitAsync(ct).ConfigureAwait(false);
            await Task.Delay(1, ct).ConfigureAwait(false);
        }

        await WaitForOrdersAsync(log, orders, ct).ConfigureAwait(false);
        long total = Interlocked.Read(ref received);
        await client.Stop(WebSocketCloseStatus.NormalClosure, string.Empty).ConfigureAwait(false);
        return total;
    }

    private static async Task<long> StackAsync(string key, BenchServer server, int orders, OrderLog log, CancellationToken ct)
    {
        Action<TransportOptionsBuilder>? configure = key switch
        {
            "limited" => o => o.WithSendRateLimit(10_000, TimeSpan.FromSeconds(1)),
            "trysend" or "batch" => o => o.WithSendQueue(1024, 1L << 24),
            _ => null,
        };
        await using var connection = await Connect.StackAsync(server.Uri, configure, ct, pipes: true).ConfigureAwait(false);
        var source = connection.Source;
        long received = 0;
        using var closing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var drain = Task.Run(async () =>
        {
            try
            {
                while (await source.WaitToReadAsync(closing.Token).ConfigureAwait(false))
                {
                    while (source.TryRead(out var frame))
                    {
                        frame.Release();
                        Interlocked.Increment(ref received);
                    }
                }
            }
            catch (OperationCanceledException) when (closing.IsCancellationRequested)
            {
                // The run is over.
            }
        }, CancellationToken.None);
        await connection.Sink.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        await Task.Delay(200, ct).ConfigureAwait(false);
        var batch = new Frame[4];
        for (int i = 0; i < orders; i++)
        {
            switch (key)
            {
                case "trysend":
                    {
                        var order = NewOrder();
                        Stamp(order, i);
                        var status = connection.Sink.TrySend(Frame.Text(order));
                        if (status != SendStatus.Accepted)
                        {
                            throw new InvalidOperationException($"TrySend of order {i} answered {status}.");
                        }

                        break;
                    }

                case "batch":
                    {
                        int n = Math.Min(batch.Length, orders - i);
                        for (int j = 0; j < n; j++)
                        {
                            var order = NewOrder();
                            Stamp(order, i + j);
                            batch[j] = Frame.Text(order);
                        }

                        await connection.Sink.SendBatchAsync(n == batch.Length ? batch : batch[..n], default, ct).ConfigureAwait(false);
                        i += n - 1;
                        await Task.Delay(n - 1, ct).ConfigureAwait(false); // with the delay below: n ms per n orders
                        break;
                    }

                default:
                    {
                        var order = NewOrder(); // a fresh array: the frame owns it until the write
                        Stamp(order, i);
                        await connection.Sink.SendAsync(Frame.Text(order), ct).ConfigureAwait(false);
                        break;
                    }
            }

            await Task.Delay(1, ct).ConfigureAwait(false);
        }

        await WaitForOrdersAsync(log, orders, ct).ConfigureAwait(false);
        long total = Interlocked.Read(ref received);
        await closing.CancelAsync().ConfigureAwait(false);
        await drain.ConfigureAwait(false);
        return total;
    }
}
