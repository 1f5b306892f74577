using System.Diagnostics;
using System.Net.WebSockets;
using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Scenario "tail" (issue 24): latency in the shape of the independent harness. The in-process
/// server's paced writer stamps each write just before it; 200,000 x 100 B at 100k msgs/s and 100,000 at
/// 10k msgs/s; a new connection per client per round, clients alternating in the same rounds as raw; every
/// sample counted (no warm-up discarded). Per client: p50, p99, p99.9 and max (median over rounds), the
/// same-round ratios to raw, CPU per message, GC collections per round, and the attribution of the tail:
/// each message carries the process's gen0 count at its write, so a latency that spanned a collection is
/// known exactly (a count, not a timing), and p99 is reported with and without those samples.
/// </summary>
/// <remarks>
/// BENCH_TAIL_RATES=100000,10000 (default both), BENCH_TAIL_CLIENTS (comma-separated names below), BENCH_ROUNDS.
/// Samples with per-round percentiles go to BENCH_OUT (scenario "tail"); `-- --plots` draws them (Infrastructure/Plots.cs).
/// </remarks>
internal static class Tail
{
    private const int PayloadBytes = 100;

    /// <summary>Percentiles recorded per round (the plot's x axis): p50 to max.</summary>
    public static readonly double[] Percentiles = [50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

    private static readonly (string Name, string Key, Func<Uri, long, CancellationToken, Task<Run>> Run)[] Clients =
    [
        ("raw, reused buffer", "raw", RawAsync),
        ("Websocket.Client 5.5.1", "wsclient", WebsocketClientAsync),
        ("stack, WaitToRead/TryRead", "tryread", (u, n, c) => StackAsync(u, n, Style.TryRead, c)),
        ("stack, await foreach", "foreach", (u, n, c) => StackAsync(u, n, Style.Foreach, c)),
        ("stack, lease mode (ReadBatchAsync + Release)", "lease", (u, n, c) => StackAsync(u, n, Style.Lease, c)),
    ];

    private enum Style
    {
        TryRead,
        Foreach,
        Lease,
    }

    /// <summary>One client's run: sorted latencies (µs), the sorted latencies of the samples that spanned no gen0 collection, and costs.</summary>
    /// <remarks>For the stack's clients, <c>LeafSorted</c>: the same samples up to the leaf's completion of each message
    /// (<see cref="Frame.ReceivedAt"/>: socket, parse and copy), so the rest is the hand-off (ring and the consumer's wake-up).</remarks>
    private sealed record Run(double[] Sorted, double[] NoGcSorted, double CpuNsPerMessage, int Gen0, int Gen1, int Gen2, double AllocPerMessage, double[]? LeafSorted = null);

    public static async Task RunAsync(BenchServer server, Settings settings, Report report)
    {
        var rates = Environment.GetEnvironmentVariable("BENCH_TAIL_RATES") is { Length: > 0 } r
            ? r.Split(',').Select(int.Parse).ToArray()
            : [100_000, 10_000];
        foreach (var rate in rates)
        {
            long count = rate >= 100_000 ? settings.Scale(200_000, 4_000) : settings.Scale(100_000, 1_000);
            await RunRateAsync(server, settings, report, rate, count).ConfigureAwait(false);
        }
    }

    private static async Task RunRateAsync(BenchServer server, Settings settings, Report report, int perSecond, long count)
    {
        var only = Environment.GetEnvironmentVariable("BENCH_TAIL_CLIENTS") is { Length: > 0 } o ? o.Split(',') : null;
        var clients = Clients.Where(c => only is null || c.Key == "raw" || only.Contains(c.Key)).ToArray();
        int rounds = settings.Rounds;
        report.Heading($"Tail latency at {Report.N(perSecond)} msgs/s (issue 24 shape): {Report.N(count)} x {PayloadBytes} B text per round, new connection per round, {rounds} rounds, every sample counted (µs from the server's write to the consumer's read)");
        server.Handler = Handlers.Paced(0x1, PayloadBytes, count, perSecond, stampGen0: true);
        var ct = settings.Deadline(TimeSpan.FromMinutes(10 + count * rounds * clients.Length / perSecond / 60));
        var runs = clients.Select(_ => new List<Run>()).ToArray();
        string label = $"{perSecond}/s";
        for (int round = 0; round < rounds; round++)
        {
            for (int i = 0; i < clients.Length; i++)
            {
                int k = (i + round) % clients.Length;
                try
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    var run = await clients[k].Run(server.Uri, count, ct).ConfigureAwait(false);
                    runs[k].Add(run);
                    var values = new Dictionary<string, double>
                    {
                        ["cpu_ns_per_msg"] = run.CpuNsPerMessage,
                        ["gen0"] = run.Gen0,
                        ["gen1"] = run.Gen1,
                        ["gen2"] = run.Gen2,
                        ["alloc_per_msg"] = run.AllocPerMessage,
                        ["gc_spanned_pct"] = 100.0 * (run.Sorted.Length - run.NoGcSorted.Length) / run.Sorted.Length,
                        ["p99_no_gc_us"] = Stats.Percentile(run.NoGcSorted, 99),
                    };
                    if (run.LeafSorted is { } leafSorted)
                    {
                        values["p50_leaf_us"] = Stats.Percentile(leafSorted, 50);
                        values["p99_leaf_us"] = Stats.Percentile(leafSorted, 99);
                    }

                    foreach (var p in Percentiles)
                    {
                        values[$"p{p.ToString(System.Globalization.CultureInfo.InvariantCulture)}_us"] = Stats.Percentile(run.Sorted, p);
                    }

                    report.Record("tail", label, clients[k].Name, round, values);
                }
                catch (Exception ex)
                {
                    report.Fail($"tail {perSecond}/s, {clients[k].Name}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        double P(int k, double p) => Stats.Median(runs[k].Select(x => Stats.Percentile(x.Sorted, p)));
        double SameRound(int k, Func<Run, double> f) => Stats.Median(
            Enumerable.Range(0, Math.Min(runs[0].Count, runs[k].Count)).Select(i => f(runs[k][i]) / f(runs[0][i])));
        string Range(int k, Func<Run, double> f)
        {
            var x = Enumerable.Range(0, Math.Min(runs[0].Count, runs[k].Count)).Select(i => f(runs[k][i]) / f(runs[0][i])).ToArray();
            return x.Length == 0 ? "-" : $"{x.Min():0.00}-{x.Max():0.00}";
        }

        static double P99(Run x) => Stats.Percentile(x.Sorted, 99);
        static double P50(Run x) => Stats.Percentile(x.Sorted, 50);
        static double P99NoGc(Run x) => Stats.Percentile(x.NoGcSorted, 99);
        static double P99Leaf(Run x) => Stats.Percentile(x.LeafSorted!, 99);
        var present = Enumerable.Range(0, clients.Length).Where(k => runs[k].Count > 0).ToArray();
        report.Table(
            ["client", "p50", "p99", "p99.9", "max", "p50 vs raw", "p99 vs raw (range)", "p99 to the leaf", "its ratio to raw", "CPU ns/msg", "alloc B/msg", "gen0/1/2 per round", "samples spanning a gen0 GC", "p99 of the rest", "its ratio to raw"],
            present.Select(k => new[]
            {
                clients[k].Name,
                Report.N(P(k, 50), 1), Report.N(P(k, 99), 1), Report.N(P(k, 99.9), 1), Report.N(P(k, 100), 1),
                Report.Ratio(SameRound(k, P50)),
                $"{Report.Ratio(SameRound(k, P99))} ({Range(k, P99)})",
                runs[k].All(x => x.LeafSorted is not null) ? Report.N(Stats.Median(runs[k].Select(P99Leaf)), 1) : "-",
                runs[k].All(x => x.LeafSorted is not null) ? Report.Ratio(Stats.Median(Enumerable.Range(0, Math.Min(runs[0].Count, runs[k].Count)).Select(i => P99Leaf(runs[k][i]) / P99(runs[0][i])))) : "-",
                Report.N(Stats.Median(runs[k].Select(x => x.CpuNsPerMessage))),
                Report.N(Stats.Median(runs[k].Select(x => x.AllocPerMessage)), 1),
                $"{Stats.Median(runs[k].Select(x => (double)x.Gen0)):0}/{Stats.Median(runs[k].Select(x => (double)x.Gen1)):0}/{Stats.Median(runs[k].Select(x => (double)x.Gen2)):0}",
                Stats.Median(runs[k].Select(x => 100.0 * (x.Sorted.Length - x.NoGcSorted.Length) / x.Sorted.Length)).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + "%",
                Report.N(Stats.Median(runs[k].Select(P99NoGc)), 1),
                Report.Ratio(SameRound(k, P99NoGc)),
            }));

        // Issue 24: owned frames (both read styles) p99 <= 1.5x raw at 100k/s and <= 1.2x at 10k/s; p50 within 10%.
        double limit = perSecond >= 100_000 ? 1.5 : 1.2;
        foreach (var k in present.Where(k => clients[k].Key is "tryread" or "foreach" or "lease"))
        {
            if (runs[0].Count == 0)
            {
                break;
            }

            report.Target($"tail p99 <= {limit:0.0}x raw at {Report.N(perSecond)} msgs/s, {clients[k].Name}", $"{Report.Ratio(SameRound(k, P99))} (range {Range(k, P99)})", SameRound(k, P99) <= limit);
            report.Target($"tail p50 within 10% of raw at {Report.N(perSecond)} msgs/s, {clients[k].Name}", Report.Ratio(SameRound(k, P50)), SameRound(k, P50) <= 1.1);
        }
    }

    /// <summary>Costs around one run, and the per-sample GC attribution.</summary>
    private sealed class Recorder
    {
        private readonly long[] _ticks;
        private readonly long[] _leafTicks;
        private bool _hasLeaf;
        private readonly bool[] _spannedGc;
        private readonly long _cpuStart;
        private readonly long _allocStart;
        private readonly int _g0;
        private readonly int _g1;
        private readonly int _g2;
        private long _count;

        public Recorder(long count)
        {
            _ticks = new long[count];
            _leafTicks = new long[count];
            _spannedGc = new bool[count];
            _g0 = GC.CollectionCount(0);
            _g1 = GC.CollectionCount(1);
            _g2 = GC.CollectionCount(2);
            _allocStart = GC.GetTotalAllocatedBytes(precise: false);
            _cpuStart = Environment.CpuUsage.TotalTime.Ticks;
        }

        public long Count => _count;

        /// <summary>One message read now: checks its sequence, records its latency and whether a gen0 GC happened since its write.</summary>
        public void Add(ReadOnlySpan<byte> payload, long now)
        {
            if (Payload.ReadSeq(payload) != _count)
            {
                throw new InvalidOperationException($"Missing message {_count}.");
            }

            _ticks[_count] = now - Payload.ReadStamp(payload);
            _spannedGc[_count] = Payload.ReadTag(payload) - 1 != GC.CollectionCount(0);
            _count++;
        }

        /// <summary>As <see cref="Add(ReadOnlySpan{byte}, long)"/>, for a stack frame: also its time to the leaf's completion.</summary>
        public void Add(in Frame frame, long now)
        {
            ReadOnlySpan<byte> payload = frame.Payload.Span;
            _leafTicks[_count] = frame.ReceivedAt - Payload.ReadStamp(payload); // ReceivedAt: TimeProvider.System = Stopwatch ticks
            _hasLeaf = true;
            Add(payload, now);
        }

        public void Add(long seq, long stamp, long gen0Tag, long now)
        {
            if (seq != _count)
            {
                throw new InvalidOperationException($"Missing message {_count}.");
            }

            _ticks[_count] = now - stamp;
            _spannedGc[_count] = gen0Tag - 1 != GC.CollectionCount(0);
            _count++;
        }

        public Run Finish()
        {
            var cpu = TimeSpan.FromTicks(Environment.CpuUsage.TotalTime.Ticks - _cpuStart);
            long alloc = GC.GetTotalAllocatedBytes(precise: false) - _allocStart;
            int g0 = GC.CollectionCount(0) - _g0, g1 = GC.CollectionCount(1) - _g1, g2 = GC.CollectionCount(2) - _g2;
            var all = new double[_count];
            var noGc = new List<double>((int)_count);
            for (long i = 0; i < _count; i++)
            {
                all[i] = _ticks[i] * 1e6 / Stopwatch.Frequency;
                if (!_spannedGc[i])
                {
                    noGc.Add(all[i]);
                }
            }

            Array.Sort(all);
            var rest = noGc.ToArray();
            Array.Sort(rest);
            double[]? leaf = null;
            if (_hasLeaf)
            {
                leaf = new double[_count];
                for (long i = 0; i < _count; i++)
                {
                    leaf[i] = _leafTicks[i] * 1e6 / Stopwatch.Frequency;
                }

                Array.Sort(leaf);
            }

            return new Run(all, rest, cpu.TotalNanoseconds / Math.Max(1, _count), g0, g1, g2, (double)alloc / Math.Max(1, _count), leaf);
        }
    }

    private static async Task<Run> RawAsync(Uri uri, long count, CancellationToken ct)
    {
        var socket = await Connect.RawAsync(uri, ct).ConfigureAwait(false);
        var buffer = new byte[Receivers.RawBufferBytes];
        var recorder = new Recorder(count);
        await socket.SendAsync(Connect.Go, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
        int pos = 0;
        while (recorder.Count < count)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(pos), ct).ConfigureAwait(false);
            pos += result.Count;
            if (result.EndOfMessage)
            {
                recorder.Add(buffer.AsSpan(0, pos), Stopwatch.GetTimestamp());
                pos = 0;
            }
        }

        var run = recorder.Finish();
        await Connect.CloseRawAsync(socket).ConfigureAwait(false);
        return run;
    }

    private static async Task<Run> WebsocketClientAsync(Uri uri, long count, CancellationToken ct)
    {
        using var client = new Websocket.Client.WebsocketClient(uri) { IsReconnectionEnabled = false, ReconnectTimeout = null };
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Recorder? recorder = null;
        using var subscription = client.MessageReceived.Subscribe(message =>
        {
            long now = Stopwatch.GetTimestamp();
            if (recorder is null || recorder.Count >= count || message.Text is not { } text)
            {
                return;
            }

            try
            {
                recorder.Add(Hex(text, 0), Hex(text, Payload.SeqBytes), text.Length >= 48 && text[32] != 'x' ? Hex(text, Payload.StampedBytes) : 0, now);
                if (recorder.Count == count)
                {
                    done.TrySetResult();
                }
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        });
        await client.StartOrFail().ConfigureAwait(false);
        recorder = new Recorder(count);
        client.Send("go");
        await done.Task.WaitAsync(ct).ConfigureAwait(false);
        var run = recorder.Finish();
        await client.Stop(WebSocketCloseStatus.NormalClosure, string.Empty).ConfigureAwait(false);
        return run;
    }

    private static long Hex(string text, int offset)
    {
        long value = 0;
        for (int i = offset; i < offset + 16; i++)
        {
            int c = text[i];
            value = (value << 4) | (long)(c <= '9' ? c - '0' : c - 'a' + 10);
        }

        return value;
    }

    private static async Task<Run> StackAsync(Uri uri, long count, Style style, CancellationToken ct)
    {
        await using var connection = await Connect.StackAsync(uri, style == Style.Lease ? o => o.WithLeasedPayloads() : null, ct, pipes: true).ConfigureAwait(false);
        var source = connection.Source;
        var recorder = new Recorder(count);
        await connection.Sink.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        switch (style)
        {
            case Style.TryRead:
                while (recorder.Count < count && await source.WaitToReadAsync(ct).ConfigureAwait(false))
                {
                    while (recorder.Count < count && source.TryRead(out var frame))
                    {
                        recorder.Add(frame, Stopwatch.GetTimestamp());
                    }
                }

                break;
            case Style.Foreach:
                await foreach (var frame in source.WithCancellation(ct).ConfigureAwait(false))
                {
                    recorder.Add(frame, Stopwatch.GetTimestamp());
                    if (recorder.Count == count)
                    {
                        break;
                    }
                }

                break;
            default:
                var batch = new Frame[64];
                while (recorder.Count < count)
                {
                    int taken = await source.ReadBatchAsync(batch.AsMemory(0, (int)Math.Min(batch.Length, count - recorder.Count)), ct).ConfigureAwait(false);
                    if (taken == 0)
                    {
                        break;
                    }

                    for (int i = 0; i < taken; i++)
                    {
                        recorder.Add(batch[i], Stopwatch.GetTimestamp());
                        batch[i].Release();
                    }
                }

                break;
        }

        if (recorder.Count != count)
        {
            throw new InvalidOperationException($"The source ended after {recorder.Count} of {count} messages.");
        }

        return recorder.Finish();
    }
}
