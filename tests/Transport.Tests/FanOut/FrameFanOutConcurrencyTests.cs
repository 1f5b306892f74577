using Transport;
using Transport.Tests.Buffering;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.FanOut;

namespace Transport.Tests.FanOut;

/// <summary>Producer, pump and subscribers on real threads, as in production. Bounded waits, no sleeps.</summary>
public sealed class FrameFanOutConcurrencyTests
{
    private const int Frames = 200_000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    [Trait("Invariant", "FanOut.F1")]
    [Trait("Invariant", "FanOut.F3")]
    public async Task F1_conservation_holds_per_subscriber_with_producer_pump_and_readers_on_their_own_threads()
    {
        var source = new DropOldestRing(capacityFrames: 1_024, capacityBytes: 1L << 20);
        await using var fanOut = new FrameFanOut(new FrameSource(source), ThreadPoolSpawner.Instance);
        var fast = fanOut.Subscribe(new FanOutSubscriberOptions { Name = "fast", CapacityFrames = 64, CapacityBytes = 4_096 });
        var stalled = fanOut.Subscribe(new FanOutSubscriberOptions { Name = "stalled", CapacityFrames = 16 });
        var newest = fanOut.Subscribe(new FanOutSubscriberOptions { Name = "drop-newest", CapacityFrames = 32, DropPolicy = FanOutDropPolicy.DropNewest });
        var odd = fanOut.Subscribe(new FanOutSubscriberOptions { Name = "odd", CapacityFrames = 8, Filter = f => (RingFrames.IdOf(f) & 1) == 1 });
        fanOut.Start();

        Task producer = Task.Factory.StartNew(
            () =>
            {
                for (int id = 0; id < Frames; id++)
                {
                    source.Write(RingFrames.Numbered(id, size: 4 + (id % 61)));
                }

                source.Complete();
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        // A mid-stream subscriber that attaches, reads a little and detaches, racing the pump.
        Task<FanOutSubscriber> churn = Task.Run(async () =>
        {
            FanOutSubscriber last = fanOut.Subscribe(new FanOutSubscriberOptions { Name = "churn-0", CapacityFrames = 4 });
            for (int i = 1; i < 200; i++)
            {
                last.TryRead(out _);
                await last.DisposeAsync().ConfigureAwait(false);
                FanOutHarness.AssertConserved(last);
                last = fanOut.Subscribe(new FanOutSubscriberOptions { Name = $"churn-{i}", CapacityFrames = 4 });
            }

            return last;
        });

        var readers = new[] { Read(fast), Read(newest), Read(odd) };
        await Task.WhenAll(readers.Cast<Task>().Append(producer).Append(churn)).WaitAsync(Bound);
        await fanOut.Completion.WaitAsync(Bound);

        foreach (var (subscriber, (reads, ordered)) in new[] { fast, newest, odd }.Zip(await Task.WhenAll(readers)))
        {
            var s = subscriber.Stats;
            Assert.True(ordered, $"{subscriber.Name}: out of order");
            Assert.Equal(reads, s.Delivered);
            Assert.Equal(0, s.Buffered);
            Assert.Equal(s.Offered, s.Delivered + s.Dropped + s.Buffered);
        }

        long delivered = source.TotalRead;
        Assert.Equal(delivered, fanOut.FramesRead);
        Assert.Equal(delivered, fast.Stats.Offered);
        Assert.Equal(delivered, stalled.Stats.Offered);
        Assert.Equal(16, stalled.Stats.Buffered);
        Assert.Equal(delivered - 16, stalled.Stats.Dropped);
        Assert.Equal(Frames - 1, LastId(stalled));
        FanOutHarness.AssertConserved(await churn);
    }

    private static Task<(long Reads, bool Ordered)> Read(FanOutSubscriber subscriber) => Task.Run(async () =>
    {
        long reads = 0;
        int last = -1;
        bool ordered = true;
        await foreach (Frame frame in ((IAsyncEnumerable<Frame>)subscriber).ConfigureAwait(false))
        {
            int id = RingFrames.IdOf(frame);
            ordered &= id > last;
            last = id;
            reads++;
        }

        return (reads, ordered);
    });

    // The source admits the newest frame always and the pump routes everything it reads: the last
    // frame reaches the stalled drop-oldest subscriber's queue.
    private static int LastId(FanOutSubscriber stalled)
    {
        int last = -1;
        while (stalled.TryRead(out Frame frame))
        {
            last = RingFrames.IdOf(frame);
        }

        return last;
    }
}
