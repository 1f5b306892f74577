using System.Diagnostics;
using System.Net.WebSockets;
using Xunit.Abstractions;

namespace Transport.IntegrationTests.Stack;

/// <summary>
/// A stalled consumer under a flood over a real socket: the receive ring's byte bound holds, so process
/// memory stays bounded, the socket keeps being drained (every frame is read), and every frame read is
/// either delivered or counted in TotalLagged.
/// </summary>
[Collection(MemoryCollection.Name)]
public sealed class BackpressureTests(ITestOutputHelper output)
{
    private const int Frames = 200_000;
    private const int FrameBytes = 1024;
    private const long RingBytes = 4L * 1024 * 1024;

    // Stated margin over the ring bound: GC gen0 budget, Kestrel's and the socket's pooled buffers, the
    // test's own bookkeeping. The flood itself is ~200 MB, so an unbounded buffer would blow through it.
    private const long ManagedMargin = 64L * 1024 * 1024;
    private const long WorkingSetMargin = 160L * 1024 * 1024;

    [Fact]
    public async Task A_stalled_consumer_under_a_200k_frame_flood_keeps_memory_bounded_and_conserves_frames()
    {
        var flooded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await FeedServer.StartAsync();
        server.Script(1, async s =>
        {
            await s.AcceptAsync();
            var buffer = FeedFrame.Encode(1, 0, FrameBytes);
            for (var i = 0; i < Frames; i++)
            {
                FeedFrame.EncodeInto(buffer, 1, i);
                await s.Socket.SendAsync(buffer, WebSocketMessageType.Text, true, s.Aborted);
            }

            flooded.TrySetResult();
            await s.WaitForCloseAsync();
        });

        var baselineManaged = GC.GetTotalMemory(forceFullCollection: true);
        var baselineWorkingSet = Environment.WorkingSet;
        await using var client = await StackClient.StartAsync(server.Uri, o => o.WithReceiveRing(100_000, RingBytes), startConsumer: false);
        using var sampling = new CancellationTokenSource();
        var sampler = SamplePeaksAsync(sampling.Token);

        await flooded.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await client.Changed.WaitUntilAsync(() => client.FramesRead == Frames, StackClient.Bound, "all frames read from the socket");
        await sampling.CancelAsync();
        var (peakManaged, peakWorkingSet) = await sampler;

        var managedGrowth = peakManaged - baselineManaged;
        var workingSetGrowth = peakWorkingSet - baselineWorkingSet;
        output.WriteLine($"peak managed growth {managedGrowth / 1024.0 / 1024:F1} MiB (bound {(RingBytes + ManagedMargin) / 1024.0 / 1024:F0} MiB), peak working-set growth {workingSetGrowth / 1024.0 / 1024:F1} MiB (bound {(RingBytes + WorkingSetMargin) / 1024.0 / 1024:F0} MiB)");
        output.WriteLine($"ring: {client.Connection.Source.Count} frames, {client.Connection.Source.BufferedBytes} bytes; {client.Current}");
        Assert.True(managedGrowth < RingBytes + ManagedMargin, $"managed memory grew by {managedGrowth} bytes");
        Assert.True(workingSetGrowth < RingBytes + WorkingSetMargin, $"working set grew by {workingSetGrowth} bytes");
        Assert.True(client.Connection.Source.BufferedBytes <= RingBytes + FrameBytes, $"ring holds {client.Connection.Source.BufferedBytes} bytes");
        Assert.Equal(0, client.DeliveredCount);
        Assert.Equal(0, client.Current.Epoch); // the flood never cost the connection

        var buffered = client.Connection.Source.Count;
        await client.ShutdownAsync();

        // Conservation: read == delivered (the buffered tail, drained after shutdown) + lagged.
        var final = client.Current;
        var delivered = client.Delivered;
        Assert.Equal(buffered, delivered.Count);
        Assert.Equal(Frames, delivered.Count + final.TotalLagged);
        client.AssertConservedAndOrdered();

        // Drop-oldest: what survived is the newest contiguous run, ending at the last frame sent.
        Assert.Equal(Frames - 1, delivered[^1].Sequence);
        Assert.Equal(Frames - delivered.Count, delivered[0].Sequence);
        StackClient.AssertOrdered(delivered, gapFree: false);
        Assert.All(delivered.Zip(delivered.Skip(1)), p => Assert.Equal(p.First.Sequence + 1, p.Second.Sequence));
    }

    private static async Task<(long Managed, long WorkingSet)> SamplePeaksAsync(CancellationToken stop)
    {
        long managed = 0;
        long workingSet = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(2));
        try
        {
            do
            {
                managed = Math.Max(managed, GC.GetTotalMemory(forceFullCollection: false));
                using var process = Process.GetCurrentProcess();
                workingSet = Math.Max(workingSet, process.WorkingSet64);
            }
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // Sampling ends with the flood.
        }

        return (managed, workingSet);
    }
}
