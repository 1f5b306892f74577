using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text.Json;
using Transport.Benchmarks.Clients;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;
using Transport.WebSockets;
using Transport.WebSockets.Pool;

namespace Transport.Benchmarks.Scenarios;

/// <summary>
/// Scenario "idle" (issue 24): N connections that received one message and now wait for the next, in one
/// process. The server and each client run in their own child processes (<see cref="ChildProcess"/>): the
/// client process's heap, working set, threads and CPU are its connections' alone. Per client: time to open
/// them, heap per connection (after full compacting collections, against the same process before opening),
/// working set per connection, idle CPU over a window, threads. Plus a pool of 1,000 connections.
/// </summary>
/// <remarks>
/// BENCH_IDLE_N: connections per client (default 10,000; --quick 200). BENCH_IDLE_SECONDS: the idle CPU window
/// (default 10; --quick 1). BENCH_IDLE_CLIENTS: comma-separated subset of the kinds below.
/// BENCH_GCDUMP_DIR: also write a gcdump of each client process before and after opening (needs the
/// dotnet-gcdump tool on PATH or in ~/.dotnet/tools) and its type report, for the per-connection audit
/// (bench/gcdump_diff.py).
/// </remarks>
internal static class Idle
{
    private const int OpenConcurrency = 32;
    private const int HelloBytes = 100;

    /// <summary>The kinds measured, in order: name, description.</summary>
    private static readonly (string Kind, string Name)[] Kinds =
    [
        ("raw16k", "raw ClientWebSocket, ReceiveAsync into its own 16 KiB buffer"),
        ("rawzero", "raw ClientWebSocket, zero-byte ReceiveAsync wait (the floor)"),
        ("wsclient", "Websocket.Client 5.5.1"),
        ("stack", "stack, default (Pipelines) leaf, await foreach"),
        ("stackcws", "stack, ClientWebSocket leaf, await foreach"),
        ("pool", "ConnectionPool of 1,000 connections (merged source)"),
    ];

    public static async Task RunAsync(BenchServer inProcessServer, Settings settings, Report report)
    {
        _ = inProcessServer; // this scenario runs its own server in a child process
        int n = int.TryParse(Environment.GetEnvironmentVariable("BENCH_IDLE_N"), out var envN) && envN > 0 ? envN : (int)settings.Scale(10_000, 200);
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("BENCH_IDLE_SECONDS"), out var envS) && envS > 0 ? envS : (int)settings.Scale(10, 1);
        var only = Environment.GetEnvironmentVariable("BENCH_IDLE_CLIENTS") is { Length: > 0 } o ? o.Split(',') : null;
        var kinds = Kinds.Where(k => only is null || only.Contains(k.Kind)).ToArray();
        int rounds = settings.Rounds;
        report.Heading($"Idle connections: {Report.N(n)} per client (pool: {Report.N(Math.Min(n, 1_000))}), each received one {HelloBytes} B message and waits; idle CPU over {seconds} s; {rounds} round(s), each client in its own process");

        // Not Settings.Deadline: even a quick run opens hundreds of connections in child processes, which takes
        // more than its 20 s on a loaded machine.
        using var deadline = new CancellationTokenSource(settings.Quick ? TimeSpan.FromMinutes(5) : TimeSpan.FromMinutes(30 * rounds));
        var ct = deadline.Token;
        await using var server = ChildProcess.Start("idle-server");
        int port = int.Parse(await server.ReadUntilAsync("PORT", ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        var results = kinds.Select(_ => new List<Dictionary<string, double>>()).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            for (int i = 0; i < kinds.Length; i++)
            {
                int k = (i + round) % kinds.Length;
                int count = kinds[k].Kind == "pool" ? Math.Min(n, 1_000) : n;
                try
                {
                    await using var child = ChildProcess.Start("idle-client", kinds[k].Kind, count.ToString(CultureInfo.InvariantCulture), port.ToString(CultureInfo.InvariantCulture), seconds.ToString(CultureInfo.InvariantCulture));
                    var json = await child.ReadUntilAsync("RESULT", ct).ConfigureAwait(false);
                    var values = JsonSerializer.Deserialize<Dictionary<string, double>>(json)!;
                    results[k].Add(values);
                    report.Record("idle", $"{count} connections", kinds[k].Name, round, values);
                }
                catch (Exception ex)
                {
                    report.Fail($"idle, {kinds[k].Name}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        double M(int k, string key) => Stats.Median(results[k].Select(r => r[key]));
        int raw = Array.FindIndex(kinds, x => x.Kind == "raw16k");
        report.Table(
            ["client", "connections", "open (s)", "open per conn (ms)", "heap per conn (KiB)", "vs raw (KiB)", "working set per conn (KiB)", "idle CPU (µs per conn per s)", "thread-pool work items per conn per s", "timers", "threads", "gen0/1/2 while idle"],
            Enumerable.Range(0, kinds.Length).Where(k => results[k].Count > 0).Select(k => new[]
            {
                kinds[k].Name,
                Report.N(M(k, "connections")),
                Report.N(M(k, "open_s"), 2),
                Report.N(M(k, "open_s") * 1000 / M(k, "connections"), 3),
                Report.N(M(k, "heap_per_conn") / 1024, 1),
                raw >= 0 && results[raw].Count > 0 ? (M(k, "heap_per_conn") - M(raw, "heap_per_conn") >= 0 ? "+" : "") + Report.N((M(k, "heap_per_conn") - M(raw, "heap_per_conn")) / 1024, 1) : "-",
                Report.N(M(k, "ws_per_conn") / 1024, 1),
                Report.N(M(k, "idle_cpu_us_per_conn_s"), 2),
                results[k].All(r => r.ContainsKey("idle_work_items_per_conn_s")) ? Report.N(M(k, "idle_work_items_per_conn_s"), 2) : "-",
                results[k].All(r => r.ContainsKey("timers")) ? Report.N(M(k, "timers")) : "-",
                Report.N(M(k, "threads")),
                $"{M(k, "idle_gen0"):0}/{M(k, "idle_gen1"):0}/{M(k, "idle_gen2"):0}",
            }));

        int stack = Array.FindIndex(kinds, x => x.Kind == "stack");
        if (raw >= 0 && stack >= 0 && results[raw].Count > 0 && results[stack].Count > 0)
        {
            double extra = (M(stack, "heap_per_conn") - M(raw, "heap_per_conn")) / 1024;
            report.Target("idle heap per connection <= raw + 8 KiB (default stack)", $"{extra:+0.0;-0.0} KiB ({M(stack, "heap_per_conn") / 1024:0.0} against {M(raw, "heap_per_conn") / 1024:0.0})", extra <= 8);
        }
    }

    /// <summary>The child processes' entry points: <c>idle-server</c> and <c>idle-client kind count port seconds</c>.</summary>
    public static async Task<int> ChildAsync(string[] args)
    {
        switch (args[0])
        {
            case "idle-server":
                await using (var server = await BenchServer.StartAsync().ConfigureAwait(false))
                {
                    server.Handler = HelloThenWait;
                    Console.WriteLine($"PORT {server.Uri.Port}");
                    await Console.In.ReadToEndAsync().ConfigureAwait(false); // until the parent closes our input
                }

                return 0;
            case "idle-client":
                var result = await ClientAsync(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture), int.Parse(args[4], CultureInfo.InvariantCulture)).ConfigureAwait(false);
                Console.WriteLine("RESULT " + JsonSerializer.Serialize(result));
                await Console.In.ReadToEndAsync().ConfigureAwait(false);
                return 0;
            default:
                Console.Error.WriteLine($"unknown child {args[0]}");
                return 2;
        }
    }

    // One 100 B text message, then read (and discard) whatever the client sends until it goes away. The
    // server's own cost is in its own process and is not measured.
    private static async Task HelloThenWait(ServerConnection connection)
    {
        var block = new FrameBlock(0x1, HelloBytes, 1);
        await connection.Stream.WriteAsync(block.Prepare(connection.Index, 1)).ConfigureAwait(false);
        await connection.Stream.FlushAsync().ConfigureAwait(false);
        var scratch = new byte[256];
        try
        {
            while (await connection.Stream.ReadAsync(scratch).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception)
        {
            // The client process exited.
        }
    }

    private static async Task<Dictionary<string, double>> ClientAsync(string kind, int count, int port, int idleSeconds)
    {
        var uri = new Uri($"ws://127.0.0.1:{port}/ws");
        var idle = Factory(kind, uri);

        // Warm-up outside the measure: JIT, static caches, the shared handler, thread-pool threads.
        await idle.OpenAsync(Math.Min(count, OpenConcurrency), CancellationToken.None).ConfigureAwait(false);
        await idle.DisposeAllAsync().ConfigureAwait(false);
        idle = Factory(kind, uri);

        var before = Snapshot.Take();
        await GcDump.MaybeAsync(kind, "before").ConfigureAwait(false);
        var open = Stopwatch.StartNew();
        await idle.OpenAsync(count, CancellationToken.None).ConfigureAwait(false);
        var openSeconds = open.Elapsed.TotalSeconds;
        var after = Snapshot.Take();

        // Idle: nothing arrives; only timers and keep-alives run. Up to 3 s to settle first (the thread pool's
        // and the tiered JIT's background work after the burst of opening).
        await Task.Delay(TimeSpan.FromSeconds(Math.Min(3, idleSeconds))).ConfigureAwait(false);
        var g0 = GC.CollectionCount(0);
        var g1 = GC.CollectionCount(1);
        var g2 = GC.CollectionCount(2);
        var cpu = Environment.CpuUsage.TotalTime;
        long workItems = ThreadPool.CompletedWorkItemCount;
        var wall = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(idleSeconds)).ConfigureAwait(false);
        var idleCpu = Environment.CpuUsage.TotalTime - cpu;
        var idleWall = wall.Elapsed;
        long idleWorkItems = ThreadPool.CompletedWorkItemCount - workItems;
        var result = new Dictionary<string, double>
        {
            ["connections"] = count,
            ["open_s"] = openSeconds,
            ["heap_per_conn"] = (double)(after.Heap - before.Heap) / count,
            ["ws_per_conn"] = (double)(after.WorkingSet - before.WorkingSet) / count,
            ["heap_total_mb"] = after.Heap / 1e6,
            ["threads"] = after.Threads,
            ["threads_before"] = before.Threads,
            ["idle_cpu_us_per_conn_s"] = idleCpu.TotalMicroseconds / count / idleWall.TotalSeconds,
            ["idle_work_items_per_conn_s"] = idleWorkItems / (double)count / idleWall.TotalSeconds,
            ["timers"] = Timer.ActiveCount,
            ["idle_gen0"] = GC.CollectionCount(0) - g0,
            ["idle_gen1"] = GC.CollectionCount(1) - g1,
            ["idle_gen2"] = GC.CollectionCount(2) - g2,
        };
        idle.Check();
        await GcDump.MaybeAsync(kind, "after").ConfigureAwait(false); // after the idle window: a dump costs CPU
        return result;
    }

    private static IdleClient Factory(string kind, Uri uri) => kind switch
    {
        "raw16k" => new RawIdle(uri, zeroByte: false),
        "rawzero" => new RawIdle(uri, zeroByte: true),
        "wsclient" => new WebsocketClientIdle(uri),
        "stack" => new StackIdle(uri, pipes: true),
        "stackcws" => new StackIdle(uri, pipes: false),
        "pool" => new PoolIdle(uri),
        _ => throw new ArgumentException($"unknown idle client {kind}"),
    };

    private readonly record struct Snapshot(long Heap, long WorkingSet, int Threads)
    {
        public static Snapshot Take()
        {
            for (int i = 0; i < 3; i++)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
            }

            using var self = Process.GetCurrentProcess();
            return new Snapshot(GC.GetTotalMemory(forceFullCollection: true), self.WorkingSet64, self.Threads.Count);
        }
    }

    /// <summary>BENCH_GCDUMP_DIR: a gcdump of this process and its type report (dotnet-gcdump).</summary>
    private static class GcDump
    {
        public static async Task MaybeAsync(string kind, string when)
        {
            if (Environment.GetEnvironmentVariable("BENCH_GCDUMP_DIR") is not { Length: > 0 } dir)
            {
                return;
            }

            Directory.CreateDirectory(dir);
            var tool = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", "dotnet-gcdump");
            if (!File.Exists(tool))
            {
                tool = "dotnet-gcdump";
            }

            var dump = Path.Combine(dir, $"{kind}-{when}.gcdump");
            await RunAsync(tool, "collect", "-p", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), "-o", dump).ConfigureAwait(false);
            var text = await RunAsync(tool, "report", dump).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(dir, $"{kind}-{when}.txt"), text).ConfigureAwait(false);
        }

        private static async Task<string> RunAsync(string file, params string[] args)
        {
            var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in args)
            {
                info.ArgumentList.Add(a);
            }

            using var p = Process.Start(info)!;
            var output = await p.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
            await p.WaitForExitAsync().ConfigureAwait(false);
            return output;
        }
    }

    /// <summary>N connections of one kind, each waiting for its next message after the first.</summary>
    private abstract class IdleClient
    {
        private Exception? _failure;

        /// <summary>Opens <paramref name="count"/> connections (at most <see cref="OpenConcurrency"/> at once) and returns once each has received its first message.</summary>
        public virtual async Task OpenAsync(int count, CancellationToken ct)
        {
            using var gate = new SemaphoreSlim(OpenConcurrency);
            var opening = new List<Task>(count);
            for (int i = 0; i < count; i++)
            {
                await gate.WaitAsync(ct).ConfigureAwait(false);
                opening.Add(OpenOneAsync(ct).ContinueWith(t => { gate.Release(); t.GetAwaiter().GetResult(); }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default));
            }

            await Task.WhenAll(opening).ConfigureAwait(false);
        }

        public abstract Task DisposeAllAsync();

        /// <summary>Throws when a connection's wait ended (a message or a failure during the idle window).</summary>
        public void Check()
        {
            if (Volatile.Read(ref _failure) is { } failure)
            {
                throw new InvalidOperationException($"An idle connection ended: {failure.Message}", failure);
            }
        }

        protected abstract Task OpenOneAsync(CancellationToken ct);

        protected void Failed(Exception ex) => Interlocked.CompareExchange(ref _failure, ex, null);

        protected static void CheckHello(ReadOnlySpan<byte> payload)
        {
            if (payload.Length != HelloBytes)
            {
                throw new InvalidOperationException($"The first message had {payload.Length} bytes, expected {HelloBytes}.");
            }
        }
    }

    private sealed class RawIdle(Uri uri, bool zeroByte) : IdleClient
    {
        private readonly List<ClientWebSocket> _sockets = [];

        protected override async Task OpenOneAsync(CancellationToken ct)
        {
            var socket = await Connect.RawAsync(uri, ct).ConfigureAwait(false);
            lock (_sockets)
            {
                _sockets.Add(socket);
            }

            var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _ = ReceiveLoopAsync(socket, first);
            await first.Task.ConfigureAwait(false);
        }

        // The usual loop: one buffer per connection under every receive. With zeroByte, the loop waits
        // with an empty buffer and takes a buffer only once data is there (rented for the read, returned after).
        private async Task ReceiveLoopAsync(ClientWebSocket socket, TaskCompletionSource first)
        {
            byte[]? own = zeroByte ? null : new byte[Receivers.RawBufferBytes];
            try
            {
                while (true)
                {
                    if (zeroByte)
                    {
                        await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                    }

                    var buffer = own ?? System.Buffers.ArrayPool<byte>.Shared.Rent(Receivers.RawBufferBytes);
                    try
                    {
                        var result = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).ConfigureAwait(false);
                        if (result.MessageType == WebSocketMessageType.Close)
                        {
                            return;
                        }

                        if (first.Task.IsCompleted)
                        {
                            Failed(new InvalidOperationException("A second message arrived."));
                        }

                        CheckHello(buffer.AsSpan(0, result.Count));
                        first.TrySetResult();
                    }
                    finally
                    {
                        if (own is null)
                        {
                            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                        }
                    }
                }
            }
            catch (Exception ex)
            {
                if (!first.TrySetException(ex))
                {
                    Failed(ex);
                }
            }
        }

        public override Task DisposeAllAsync()
        {
            foreach (var s in _sockets)
            {
                s.Abort();
                s.Dispose();
            }

            _sockets.Clear();
            return Task.CompletedTask;
        }
    }

    private sealed class WebsocketClientIdle(Uri uri) : IdleClient
    {
        private readonly List<Websocket.Client.WebsocketClient> _clients = [];

        protected override async Task OpenOneAsync(CancellationToken ct)
        {
            var client = new Websocket.Client.WebsocketClient(uri) { IsReconnectionEnabled = false, ReconnectTimeout = null };
            var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            client.MessageReceived.Subscribe(message =>
            {
                if (first.Task.IsCompleted)
                {
                    Failed(new InvalidOperationException("A second message arrived."));
                    return;
                }

                if (message.Text is { Length: HelloBytes })
                {
                    first.TrySetResult();
                }
                else
                {
                    first.TrySetException(new InvalidOperationException("Unexpected first message."));
                }
            });
            lock (_clients)
            {
                _clients.Add(client);
            }

            await client.StartOrFail().ConfigureAwait(false);
            await first.Task.WaitAsync(ct).ConfigureAwait(false);
        }

        public override Task DisposeAllAsync()
        {
            foreach (var c in _clients)
            {
                c.Dispose();
            }

            _clients.Clear();
            return Task.CompletedTask;
        }
    }

    private sealed class StackIdle(Uri uri, bool pipes) : IdleClient
    {
        // One connector for all of them, as a gateway would build it: its options and attempt gate are shared.
        private readonly ReconnectingConnector _connector = new WebSocketTransportBuilder()
            .Configure(o => o
                .WithLeaf(pipes ? LeafKind.Pipelines : LeafKind.ClientWebSocket)
                .WithUri(uri)
                .WithAttemptRateLimit(1_000_000, TimeSpan.FromMinutes(1)))
            .Build();

        private readonly List<ReconnectingConnection> _connections = [];

        protected override async Task OpenOneAsync(CancellationToken ct)
        {
            var connection = await _connector.ConnectAsync(ct).ConfigureAwait(false);
            lock (_connections)
            {
                _connections.Add(connection);
            }

            var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _ = ConsumeAsync(connection, first);
            await first.Task.ConfigureAwait(false);
        }

        private async Task ConsumeAsync(ReconnectingConnection connection, TaskCompletionSource first)
        {
            try
            {
                await foreach (var frame in connection.Source.ConfigureAwait(false))
                {
                    if (first.Task.IsCompleted)
                    {
                        Failed(new InvalidOperationException("A second message arrived."));
                    }

                    CheckHello(frame.Payload.Span);
                    first.TrySetResult();
                }
            }
            catch (Exception ex)
            {
                if (!first.TrySetException(ex))
                {
                    Failed(ex);
                }
            }
        }

        public override async Task DisposeAllAsync()
        {
            await Task.WhenAll(_connections.Select(c => c.DisposeAsync().AsTask())).ConfigureAwait(false);
            _connections.Clear();
        }
    }

    private sealed class PoolIdle(Uri uri) : IdleClient
    {
        private ConnectionPool? _pool;
        private Task? _consumer;

        public override async Task OpenAsync(int count, CancellationToken ct)
        {
            var connector = new WebSocketTransportBuilder()
                .Configure(o => o.WithUri(uri).WithAttemptRateLimit(1_000_000, TimeSpan.FromMinutes(1)))
                .Build();
            _pool = new ConnectionPool(new ConnectionPoolOptions { Name = "idle", PerConnectionCap = 1, MaxConnections = count }, new OneFramePerKey(), connector);
            var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            long received = 0;
            _consumer = Task.Run(async () =>
            {
                try
                {
                    await foreach (var frame in _pool.Source.ConfigureAwait(false))
                    {
                        CheckHello(frame.Frame.Payload.Span);
                        if (Interlocked.Increment(ref received) == count)
                        {
                            first.TrySetResult();
                        }
                        else if (received > count)
                        {
                            Failed(new InvalidOperationException("A second message arrived."));
                        }
                    }
                }
                catch (Exception ex)
                {
                    if (!first.TrySetException(ex))
                    {
                        Failed(ex);
                    }
                }
            }, ct);
            await _pool.AddAsync(Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture)), ct).ConfigureAwait(false);
            await first.Task.WaitAsync(ct).ConfigureAwait(false);
        }

        protected override Task OpenOneAsync(CancellationToken ct) => throw new NotSupportedException("The pool opens its connections itself.");

        public override async Task DisposeAllAsync()
        {
            if (_pool is not null)
            {
                await _pool.DisposeAsync().ConfigureAwait(false);
            }

            _pool = null;
        }

        private sealed class OneFramePerKey : ISubscriptionProtocol
        {
            public IReadOnlyList<Frame> Subscribe(IReadOnlyList<string> keys) => [Frame.Text("sub " + string.Join(',', keys))];

            public IReadOnlyList<Frame> Unsubscribe(IReadOnlyList<string> keys) => [Frame.Text("unsub " + string.Join(',', keys))];
        }
    }
}
