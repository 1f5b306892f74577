using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Buffering;

/// <summary>Producer and consumer on two real threads, as in production. Bounded waits, no sleeps.</summary>
public sealed class DropOldestRingConcurrencyTests
{
    private const int Frames = 200_000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task I4_conservation_holds_with_producer_and_consumer_on_two_threads()
    {
        var ring = new DropOldestRing(capacityFrames: 64, capacityBytes: 1_024);
        long evictedByWrites = 0;

        Task producer = Task.Factory.StartNew(
            () =>
            {
                for (int id = 0; id < Frames; id++)
                {
                    evictedByWrites += ring.Write(RingFrames.Numbered(id, size: 4 + (id % 61)));
                }

                ring.Complete();
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        Task<(long Reads, int LastId, bool Ordered)> consumer = Task.Run(async () =>
        {
            long reads = 0;
            int lastId = -1;
            bool ordered = true;
            while (await ring.WaitToReadAsync().ConfigureAwait(false))
            {
                while (ring.TryRead(out Frame frame))
                {
                    int id = RingFrames.IdOf(frame);
                    ordered &= id > lastId;
                    lastId = id;
                    reads++;
                }
            }

            return (reads, lastId, ordered);
        });

        await Task.WhenAll(producer, consumer).WaitAsync(Bound);
        (long reads, int lastId, bool ordered) = await consumer;

        Assert.True(ordered, "frames came out of order");
        Assert.Equal(Frames - 1, lastId);            // the newest is always admitted, and Complete drops nothing
        Assert.Equal(Frames, ring.TotalWritten);
        Assert.Equal(reads, ring.TotalRead);
        Assert.Equal(evictedByWrites, ring.TotalLagged);
        Assert.Equal(0, ring.Count);
        Assert.Equal(0, ring.Bytes);
        Assert.Equal(ring.TotalWritten, ring.TotalRead + ring.TotalLagged + ring.Count);
        Assert.True(ring.PeakBytes <= ring.CapacityBytes + 64, $"peak {ring.PeakBytes}");
    }

    [Fact]
    public async Task I7_cancellation_racing_writes_never_loses_a_wake_up()
    {
        const int frames = 50_000;
        var ring = new DropOldestRing(capacityFrames: 16, capacityBytes: 1_024);
        CancellationTokenSource current = new();

        Task producer = Task.Factory.StartNew(
            () =>
            {
                for (int id = 0; id < frames; id++)
                {
                    ring.Write(RingFrames.Numbered(id));
                    if (id % 7 == 0)
                    {
                        // Races the consumer arming a wait with this token, and the Write above waking it.
                        Volatile.Read(ref current).Cancel();
                    }
                }

                ring.Complete();
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        Task<(long Reads, int LastId, long Cancels)> consumer = Task.Run(async () =>
        {
            long reads = 0, cancels = 0;
            int lastId = -1;
            while (true)
            {
                CancellationTokenSource cts = Volatile.Read(ref current);
                try
                {
                    if (!await ring.WaitToReadAsync(cts.Token).ConfigureAwait(false))
                    {
                        break;
                    }
                }
                catch (OperationCanceledException)
                {
                    cancels++;
                    Volatile.Write(ref current, new CancellationTokenSource());
                    continue;
                }

                while (ring.TryRead(out Frame frame))
                {
                    lastId = RingFrames.IdOf(frame);
                    reads++;
                }
            }

            return (reads, lastId, cancels);
        });

        await Task.WhenAll(producer, consumer).WaitAsync(Bound);
        (long reads, int lastId, _) = await consumer;

        Assert.Equal(frames - 1, lastId);
        Assert.Equal(reads, ring.TotalRead);
        Assert.Equal(ring.TotalWritten, ring.TotalRead + ring.TotalLagged + ring.Count);
        Assert.Equal(0, ring.Count);
    }
}
