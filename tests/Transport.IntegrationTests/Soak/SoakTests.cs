using System.Diagnostics;
using System.Globalization;
using Transport.IntegrationTests.Stack;
using Transport.Testing;
using Transport.Testing.Chaos;
using Xunit.Abstractions;

namespace Transport.IntegrationTests.Soak;

/// <summary>
/// Random faults (from a printed seed) while the server streams, then shutdown: the conservation law, order,
/// the epoch count, no leaked sockets or pumps, threads and handles within a bound, memory flat.
/// SOAK_SEED reproduces a run; SOAK_SECONDS sets its length (default 20 s).
/// </summary>
[Trait("Category", "Soak")]
[Collection(MemoryCollection.Name)]
public sealed class SoakTests(ITestOutputHelper output)
{
    private const long MemoryBound = 16L * 1024 * 1024;
    private const int ThreadBound = 24;
    private const int HandleBound = 64;

    private enum Fault
    {
        CutFin,
        CutRst,
        CutMidFrame,
        HalfOpen,
        Refuse,
        ServerAbort,
        ForceReconnect,
        Throttle,
        Delay,
    }

    private static readonly Fault[] Faults = Enum.GetValues<Fault>();

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task Random_faults_while_streaming_conserve_frames_and_leak_nothing(LeafKind leaf)
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("SOAK_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : Environment.TickCount;
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("SOAK_SECONDS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var d) ? d : 20;
        output.WriteLine($"SOAK_SEED={seed} SOAK_SECONDS={seconds} leaf={leaf}");
        var random = new Random(seed);

        await using var server = await FeedServer.StartAsync();
        var proxy = ChaosProxy.Start(server.EndPoint);
        var client = await StackClient.StartAsync(proxy.Uri, o => o
            .WithIdleTimeouts(TimeSpan.FromMilliseconds(500), null)
            .WithReconnectOnDataSilence(TimeSpan.FromSeconds(3)) // loose: an overloaded CI box must not trip it spuriously; the feed never pauses
            .WithConnectTimeout(TimeSpan.FromMilliseconds(500))
            .WithReceiveRing(1_000, 64 * 1024)
            .WithLeaf(leaf));
        long downCycles = 0;
        long warmMemory = 0;
        int warmThreads = 0, warmHandles = 0;
        var faults = new Dictionary<Fault, int>();
        var clock = Stopwatch.StartNew();
        try
        {
            await client.WaitForFramesAsync(1, 50); // Session.S9: so the session is up before the first fault
            for (var round = 0; clock.Elapsed < TimeSpan.FromSeconds(seconds); round++)
            {
                if (round == 3)
                {
                    (warmMemory, warmThreads, warmHandles) = Measure();
                }

                var fault = Faults[random.Next(Faults.Length)];
                faults[fault] = faults.GetValueOrDefault(fault) + 1;
                var epoch = client.Current.Epoch;
                if (await InjectAsync(fault, proxy, server, client, random))
                {
                    downCycles++;
                    await client.WaitUpAsync(epoch + 1);
                }

                // Frames flow after every fault, on the current server connection.
                var connection = server.ConnectionCount;
                await client.WaitForFramesAsync(connection, client.DeliveredOn(connection) + 20);
                Assert.Equal(downCycles, client.Current.Epoch);
            }

            var (endMemory, endThreads, endHandles) = Measure();
            output.WriteLine($"faults: {string.Join(", ", faults.Select(f => $"{f.Key}={f.Value}"))}; down-cycles {downCycles}");
            output.WriteLine($"memory {warmMemory / 1024} KiB -> {endMemory / 1024} KiB (bound +{MemoryBound / 1024} KiB); threads {warmThreads} -> {endThreads}; handles {warmHandles} -> {endHandles}");
            Assert.True(endMemory - warmMemory < MemoryBound, $"memory grew by {endMemory - warmMemory} bytes");
            Assert.True(endThreads - warmThreads < ThreadBound, $"threads grew by {endThreads - warmThreads}");
            Assert.True(endHandles - warmHandles < HandleBound, $"handles grew by {endHandles - warmHandles}");

            await client.ShutdownAsync();
            output.WriteLine($"read {client.FramesRead}, delivered {client.DeliveredCount}, lagged {client.Current.TotalLagged}; {client.Current}");
            Assert.Equal(downCycles, client.Current.Epoch);
            Assert.Null(client.SourceError);
            client.AssertConservedAndOrdered();
        }
        finally
        {
            await client.DisposeAsync();
            await proxy.DisposeAsync();
        }

        Assert.Equal(0, proxy.ActivePumpCount);
        Assert.Equal(0, proxy.ActiveConnections);
        await server.WaitUntilAsync(x => x.OpenConnections == 0, StackClient.Bound, "server connections closed");
        Assert.Empty(server.HandlerErrors);
    }

    /// <summary>Injects one fault and waits until it has fully played out; true when it cost the connection.</summary>
    private static async Task<bool> InjectAsync(Fault fault, ChaosProxy proxy, FeedServer server, StackClient client, Random random)
    {
        var epoch = client.Current.Epoch;
        var connection = server.ConnectionCount;
        switch (fault)
        {
            case Fault.CutFin:
                proxy.CutAll(CutMode.Fin);
                return true;
            case Fault.CutRst:
                proxy.CutAll(CutMode.Rst);
                return true;
            case Fault.CutMidFrame:
                await proxy.CutMidFrame().WaitAsync(StackClient.Bound);
                return true;
            case Fault.HalfOpen:
                proxy.HalfOpen(Direction.Both);
                await client.WaitAsync(x => x.Epoch > epoch || !x.IsUp);
                proxy.Resume();
                return true;
            case Fault.Refuse:
                proxy.RefuseNewConnections(true);
                proxy.CutAll(CutMode.Rst);
                // The target is computed once: the lifecycle may evaluate a predicate more than once.
                var target = client.Current.Attempts + 1 + random.Next(3);
                await client.WaitAsync(x => x.Attempts >= target && !x.IsUp);
                proxy.RefuseNewConnections(false);
                return true;
            case Fault.ServerAbort:
                var session = await server.WaitForConnectionAsync(connection);
                try
                {
                    session.Abort();
                }
                catch (ObjectDisposedException)
                {
                    Assert.Fail($"server connection {connection} had already ended on its own: {client.Current}");
                }

                return true;
            case Fault.ForceReconnect:
                client.Connection.Control.ReconnectTrigger.ForceReconnect("soak");
                return true;
            case Fault.Throttle:
                proxy.Throttle(16 * 1024);
                await client.WaitForFramesAsync(connection, client.DeliveredOn(connection) + 50);
                proxy.Unthrottle();
                return false;
            default:
                proxy.Delay(TimeSpan.FromMilliseconds(20));
                await client.WaitForFramesAsync(connection, client.DeliveredOn(connection) + 50);
                proxy.Delay(TimeSpan.Zero);
                return false;
        }
    }

    private static (long Memory, int Threads, int Handles) Measure()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var memory = GC.GetGCMemoryInfo().HeapSizeBytes;
        using var process = Process.GetCurrentProcess();
        return (memory, process.Threads.Count, process.HandleCount);
    }
}
