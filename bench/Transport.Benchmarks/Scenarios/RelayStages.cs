using System.Diagnostics;
using System.Globalization;
using Transport.Benchmarks.Infrastructure;
using Transport.Nats;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// The relay's two halves alone (part of scenario "relay"): the relay publishing frames from memory until
/// JetStream acknowledged them all, then a consumer reading the same stream back from its start. Besides the
/// rate (wall clock: only comparable within one run), the load-independent costs per frame: CPU time of this
/// process and of nats-server, and bytes allocated by this process (every thread).
/// </summary>
internal static class RelayStages
{
    private static readonly bool Verbose = Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1";

    public static async Task RunAsync(string natsUrl, int natsPid, Settings settings, Report report, string label, int payloadBytes, int count)
    {
        report.Heading($"Relay stages: {Report.N(count)} x {label}, relay alone (memory -> JetStream, all acknowledged) and consumer alone (stream -> IFrameSource), {settings.Rounds} rounds, medians");
        var ct = settings.Deadline(TimeSpan.FromMinutes(10));
        var relay = new List<Cost>();
        var consumer = new List<Cost>();
        for (int round = 0; round < settings.Rounds; round++)
        {
            try
            {
                GC.Collect();
                var feed = "stage-" + Guid.NewGuid().ToString("N")[..12];
                var published = await PublishAsync(natsUrl, natsPid, feed, payloadBytes, count, ct).ConfigureAwait(false);
                relay.Add(published);
                GC.Collect();
                var read = await ConsumeAsync(natsUrl, natsPid, feed, count, ct).ConfigureAwait(false);
                consumer.Add(read);
                report.Record("relay-stages", label, "relay", round, published.Values());
                report.Record("relay-stages", label, "consumer", round, read.Values());
            }
            catch (Exception ex)
            {
                report.Fail($"relay stages {label}: {ex.GetType().Name}: {ex.Message}");
            }
        }

        report.Table(
            ["stage", "msgs/s", "client CPU µs/msg", "nats-server CPU µs/msg", "client bytes allocated/msg"],
            [Row("relay alone (publish + ack)", relay), Row("consumer alone (read)", consumer)]);

        static string[] Row(string name, List<Cost> costs) =>
        [
            name,
            Report.N(Stats.Median(costs.Select(c => c.Rate))),
            Report.N(Stats.Median(costs.Select(c => c.ClientCpuMicros)), 1),
            Report.N(Stats.Median(costs.Select(c => c.ServerCpuMicros)), 1),
            Report.N(Stats.Median(costs.Select(c => c.AllocatedBytes))),
        ];
    }

    private static async Task<Cost> PublishAsync(string natsUrl, int natsPid, string feed, int payloadBytes, int count, CancellationToken ct)
    {
        var frames = new Frame[count];
        for (int i = 0; i < count; i++)
        {
            var payload = new byte[payloadBytes];
            BitConverter.TryWriteBytes(payload, (long)i);
            frames[i] = Frame.Text(payload).WithEpoch(0).WithReceivedAt(Stopwatch.GetTimestamp());
        }

        var source = new ReplaySource(frames);
        var options = new NatsRelayOptions
        {
            Feed = feed,
            RelayId = "stage",
            Nats = new NatsConnectionOptions { Url = natsUrl },
            BufferFrames = count + 1,
            BufferBytes = 4L * 1024 * 1024 * 1024,
        };
        await using var relay = new NatsRelay(options, _ => ValueTask.FromResult(RelayInput.FromSource(source, null, source.CloseAsync)));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var running = relay.RunAsync(stop.Token);
        await relay.WaitAsync(s => s.Role == RelayRole.Active, ct).ConfigureAwait(false);
        var meter = Meter.Start(natsPid);
        source.Release();
        var shown = Stopwatch.GetTimestamp();
        while (relay.Current.FramesAcknowledged < count)
        {
            ct.ThrowIfCancellationRequested();
            await Task.Delay(2, ct).ConfigureAwait(false);
            if (Verbose && Stopwatch.GetElapsedTime(shown) > TimeSpan.FromSeconds(1))
            {
                shown = Stopwatch.GetTimestamp();
                Console.Error.WriteLine($"relay: {relay.Current}");
            }
        }

        var cost = meter.Stop(count);
        var stopping = Stopwatch.GetTimestamp();
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await running.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (Verbose)
        {
            Console.Error.WriteLine($"relay stopped in {Stopwatch.GetElapsedTime(stopping).TotalMilliseconds:0} ms: {relay.Current}");
        }

        return cost;
    }

    private static async Task<Cost> ConsumeAsync(string natsUrl, int natsPid, string feed, int count, CancellationToken ct)
    {
        var meter = Meter.Start(natsPid);
        await using var consumer = await NatsFeedConsumer.StartAsync(
            new NatsFeedOptions { Feed = feed, Nats = new NatsConnectionOptions { Url = natsUrl }, RingCapacityFrames = count + 1, RingCapacityBytes = 4L * 1024 * 1024 * 1024 },
            cancellationToken: ct).ConfigureAwait(false);
        var batch = new Frame[256];
        long next = 0;
        while (next < count)
        {
            int n = await consumer.Source.ReadBatchAsync(batch, ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new InvalidOperationException($"The consumer ended after {next} of {count} frames.");
            }

            for (int i = 0; i < n; i++)
            {
                long seq = BitConverter.ToInt64(batch[i].Payload.Span);
                if (seq != next)
                {
                    throw new InvalidOperationException($"Expected frame {next}, read {seq}.");
                }

                next++;
            }
        }

        return meter.Stop(count);
    }

    /// <summary>Per-frame costs of one stage.</summary>
    private readonly record struct Cost(double Rate, double ClientCpuMicros, double ServerCpuMicros, double AllocatedBytes)
    {
        public Dictionary<string, double> Values() => new()
        {
            ["msgs_per_s"] = Rate,
            ["client_cpu_us_per_msg"] = ClientCpuMicros,
            ["server_cpu_us_per_msg"] = ServerCpuMicros,
            ["alloc_bytes_per_msg"] = AllocatedBytes,
        };
    }

    private readonly record struct Meter(long Started, TimeSpan ClientCpu, double ServerCpuSeconds, long Allocated, int NatsPid)
    {
        public static Meter Start(int natsPid) =>
            new(Stopwatch.GetTimestamp(), Process.GetCurrentProcess().TotalProcessorTime, ServerCpu(natsPid), GC.GetTotalAllocatedBytes(precise: true), natsPid);

        public Cost Stop(int count)
        {
            double seconds = Stopwatch.GetElapsedTime(Started).TotalSeconds;
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - ClientCpu;
            double server = ServerCpu(NatsPid) - ServerCpuSeconds;
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - Allocated;
            return new Cost(count / seconds, cpu.TotalMicroseconds / count, server * 1e6 / count, (double)allocated / count);
        }

        // utime + stime of nats-server from /proc (clock ticks of 1/100 s): NaN where /proc is not there.
        private static double ServerCpu(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
            {
                return double.NaN;
            }
        }
    }

    /// <summary>Frames from memory, held back until <see cref="Release"/>; after the last one it stays open until closed (the relay's stop).</summary>
    private sealed class ReplaySource(Frame[] frames) : IFrameSource
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _next;

        public int Count => _released.Task.IsCompleted ? frames.Length - _next : 0;

        public long BufferedBytes => 0;

        public void Release() => _released.TrySetResult();

        public ValueTask CloseAsync()
        {
            _closed.TrySetResult();
            return ValueTask.CompletedTask;
        }

        public bool TryRead(out Frame frame)
        {
            if (_released.Task.IsCompleted && _next < frames.Length)
            {
                frame = frames[_next++];
                return true;
            }

            frame = default;
            return false;
        }

        public int TryReadBatch(Span<Frame> destination)
        {
            if (!_released.Task.IsCompleted)
            {
                return 0;
            }

            int n = Math.Min(destination.Length, frames.Length - _next);
            frames.AsSpan(_next, n).CopyTo(destination);
            _next += n;
            return n;
        }

        public async ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default)
        {
            await _released.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (_next < frames.Length)
            {
                return true;
            }

            await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return false;
        }

        public async IAsyncEnumerator<Frame> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            while (await WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (TryRead(out var frame))
                {
                    yield return frame;
                }
            }
        }
    }
}
