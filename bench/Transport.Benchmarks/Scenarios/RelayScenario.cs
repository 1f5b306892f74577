using System.Diagnostics;
using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;
using Transport.Nats;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Scenario "relay" (issue 22): the same server feed read directly through the stack (Pipelines leaf,
/// ReadBatchAsync) and through the NATS relay (stack -> NatsRelay -> a local nats-server with a file-backed
/// JetStream stream -> NatsFeedConsumer), rounds alternating. Throughput at 100 B and 1 KiB (end to end:
/// the consumer's rate), and latency at 10k msgs/s (server write to consumer read, same process, same clock):
/// what the relay adds to p99. Needs nats-server on PATH (skipped with a line saying so otherwise).
/// </summary>
internal static class RelayScenario
{
    public static async Task RunAsync(BenchServer server, Settings settings, Report report)
    {
        await using var nats = await LocalNats.StartAsync();
        if (nats is null)
        {
            report.Heading("Relay (NATS JetStream)");
            report.Line("skipped: nats-server is not on PATH (apt-get install nats-server; .ci/run installs it).");
            return;
        }

        await ThroughputAsync(server, nats, settings, report, "100 B text", 0x1, 100, settings.Scale(200_000, 2_000));
        await ThroughputAsync(server, nats, settings, report, "1 KiB binary", 0x2, 1024, settings.Scale(100_000, 1_000));
        await LatencyAsync(server, nats, settings, report, 10_000, settings.Scale(50_000, 2_000));
    }

    private static async Task ThroughputAsync(BenchServer server, LocalNats nats, Settings settings, Report report, string label, int opcode, int payloadBytes, long count)
    {
        report.Heading($"Relay throughput: {Report.N(count)} x {label}, direct stack vs through the NATS relay ({settings.Rounds} rounds, medians; end to end: the consumer's rate)");
        server.Handler = Handlers.Flood(opcode, payloadBytes, count);
        var ct = settings.Deadline(TimeSpan.FromMinutes(10));
        var direct = new List<double>();
        var relayed = new List<double>();
        for (int round = 0; round < settings.Rounds; round++)
        {
            foreach (bool viaRelay in round % 2 == 0 ? new[] { false, true } : [true, false])
            {
                try
                {
                    GC.Collect();
                    var (rate, _) = viaRelay
                        ? await RelayedAsync(server.Uri, nats.Url, count, null, ct)
                        : await DirectAsync(server.Uri, count, null, ct);
                    (viaRelay ? relayed : direct).Add(rate);
                    report.Record("relay", label, viaRelay ? "relayed" : "direct", round, new Dictionary<string, double> { ["msgs_per_s"] = rate });
                }
                catch (Exception ex)
                {
                    report.Fail($"relay {label}, {(viaRelay ? "relayed" : "direct")}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        report.Table(
            ["path", "msgs/s", "MB/s", "vs direct"],
            [
                ["direct stack", Report.N(Stats.Median(direct)), Report.N(Stats.Median(direct) * payloadBytes / 1e6, 1), "1.00x"],
                ["stack -> relay -> JetStream -> consumer", Report.N(Stats.Median(relayed)), Report.N(Stats.Median(relayed) * payloadBytes / 1e6, 1), Report.Ratio(Stats.Median(relayed) / Stats.Median(direct))],
            ]);
    }

    private static async Task LatencyAsync(BenchServer server, LocalNats nats, Settings settings, Report report, int perSecond, long count)
    {
        report.Heading($"Relay latency at {Report.N(perSecond)} msgs/s: {Report.N(count)} x 100 B per run, {settings.Rounds} rounds (server write to consumer read, µs; first 10% discarded)");
        server.Handler = Handlers.Paced(0x1, 100, count, perSecond);
        var ct = settings.Deadline(TimeSpan.FromMinutes(10));
        var direct = new List<double[]>();
        var relayed = new List<double[]>();
        for (int round = 0; round < settings.Rounds; round++)
        {
            foreach (bool viaRelay in round % 2 == 0 ? new[] { false, true } : [true, false])
            {
                try
                {
                    var ticks = new long[count];
                    var (_, sorted) = viaRelay
                        ? await RelayedAsync(server.Uri, nats.Url, count, ticks, ct)
                        : await DirectAsync(server.Uri, count, ticks, ct);
                    (viaRelay ? relayed : direct).Add(sorted!);
                    report.Record("relay-latency", $"{perSecond}/s", viaRelay ? "relayed" : "direct", round, new Dictionary<string, double>
                    {
                        ["p50_us"] = Stats.Percentile(sorted!, 50),
                        ["p99_us"] = Stats.Percentile(sorted!, 99),
                        ["p999_us"] = Stats.Percentile(sorted!, 99.9),
                    });
                }
                catch (Exception ex)
                {
                    report.Fail($"relay latency, {(viaRelay ? "relayed" : "direct")}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        double P(List<double[]> runs, double p) => Stats.Median(runs.Select(r => Stats.Percentile(r, p)));
        report.Table(
            ["path", "p50", "p99", "p99.9", "p99 added by the relay"],
            [
                ["direct stack", Report.N(P(direct, 50), 1), Report.N(P(direct, 99), 1), Report.N(P(direct, 99.9), 1), "-"],
                ["through the NATS relay", Report.N(P(relayed, 50), 1), Report.N(P(relayed, 99), 1), Report.N(P(relayed, 99.9), 1), Report.N(P(relayed, 99) - P(direct, 99), 1) + " µs"],
            ]);
    }

    // The stack alone: ReadBatchAsync on the Pipelines leaf.
    private static async Task<(double Rate, double[]? Sorted)> DirectAsync(Uri uri, long count, long[]? ticks, CancellationToken ct)
    {
        await using var connection = await Connect.StackAsync(uri, Ring(count), ct, pipes: true).ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        await connection.Sink.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        long received = await ReadAsync(connection.Source, count, ticks, ct).ConfigureAwait(false);
        return Result(received, count, started, ticks);
    }

    // The stack -> NatsRelay -> nats-server -> NatsFeedConsumer, one new feed (stream) per run.
    private static async Task<(double Rate, double[]? Sorted)> RelayedAsync(Uri uri, string natsUrl, long count, long[]? ticks, CancellationToken ct)
    {
        var feed = "bench-" + Guid.NewGuid().ToString("N")[..12];
        var relayOptions = new NatsRelayOptions
        {
            Feed = feed,
            RelayId = "bench",
            Nats = new NatsConnectionOptions { Url = natsUrl },
            BufferFrames = (int)Math.Max(count + 1, 100_000),
            BufferBytes = 4L * 1024 * 1024 * 1024,
        };
        var venue = new TaskCompletionSource<ReconnectingConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var relay = new NatsRelay(relayOptions, async token =>
        {
            var connection = await Connect.StackAsync(uri, Ring(count), token, pipes: true).ConfigureAwait(false);
            venue.TrySetResult(connection);
            return RelayInput.FromConnection(connection);
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var running = relay.RunAsync(stop.Token);
        await relay.WaitAsync(s => s.Role == RelayRole.Active, ct).ConfigureAwait(false);
        await using var consumer = await NatsFeedConsumer.StartAsync(
            new NatsFeedOptions { Feed = feed, Nats = new NatsConnectionOptions { Url = natsUrl }, RingCapacityFrames = (int)Math.Min(int.MaxValue, count + 1), RingCapacityBytes = 4L * 1024 * 1024 * 1024 },
            cancellationToken: ct).ConfigureAwait(false);
        var connection = await venue.Task.WaitAsync(ct).ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        await connection.Sink.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        long received = await ReadAsync(consumer.Source, count, ticks, ct).ConfigureAwait(false);
        var result = Result(received, count, started, ticks);
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await running.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        return result;
    }

    private static Action<TransportOptionsBuilder> Ring(long count) =>
        o => o.WithReceiveRing((int)Math.Min(int.MaxValue, count + 1), 4L * 1024 * 1024 * 1024);

    private static async Task<long> ReadAsync(IFrameSource source, long count, long[]? ticks, CancellationToken ct)
    {
        var frames = new Frame[64];
        long received = 0;
        while (received < count)
        {
            int taken = await source.ReadBatchAsync(frames, ct).ConfigureAwait(false);
            if (taken == 0)
            {
                break;
            }

            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < taken; i++)
            {
                var span = frames[i].Payload.Span;
                if (Payload.ReadSeq(span) != received)
                {
                    throw new InvalidOperationException($"Missing message {received}.");
                }

                if (ticks is not null)
                {
                    ticks[received] = now - Payload.ReadStamp(span);
                }

                received++;
            }
        }

        return received;
    }

    private static (double Rate, double[]? Sorted) Result(long received, long count, long started, long[]? ticks)
    {
        if (received != count)
        {
            throw new InvalidOperationException($"The source ended after {received} of {count} messages.");
        }

        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (ticks is null)
        {
            return (count / seconds, null);
        }

        int skip = ticks.Length / 10;
        var us = new double[ticks.Length - skip];
        for (int i = skip; i < ticks.Length; i++)
        {
            us[i - skip] = ticks[i] * 1e6 / Stopwatch.Frequency;
        }

        Array.Sort(us);
        return (count / seconds, us);
    }

    /// <summary>A nats-server with JetStream on a free loopback port and a temporary store, killed by PID on dispose.</summary>
    private sealed class LocalNats : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _store;

        private LocalNats(Process process, string store, int port)
        {
            _process = process;
            _store = store;
            Url = $"nats://127.0.0.1:{port}";
        }

        public string Url { get; }

        public static async Task<LocalNats?> StartAsync()
        {
            var binary = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Append("/usr/sbin").Append("/usr/bin")
                .Select(d => Path.Combine(d, "nats-server")).FirstOrDefault(File.Exists);
            if (binary is null)
            {
                return null;
            }

            int port;
            using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
            {
                probe.Start();
                port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
            }

            var store = Directory.CreateTempSubdirectory("bench-nats-").FullName;
            var info = new ProcessStartInfo(binary) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in new[] { "-js", "-sd", store, "-a", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            {
                info.ArgumentList.Add(a);
            }

            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var process = new Process { StartInfo = info };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data?.Contains("Server is ready", StringComparison.Ordinal) == true)
                {
                    ready.TrySetResult();
                }
            };
            process.OutputDataReceived += (_, _) => { };
            process.Start();
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false);
            return new LocalNats(process, store, port);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }

            await _process.WaitForExitAsync().ConfigureAwait(false);
            _process.Dispose();
            try
            {
                Directory.Delete(_store, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
