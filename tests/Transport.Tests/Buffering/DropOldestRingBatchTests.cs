using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Buffering;

/// <summary>Batch hand-off: one lock and at most one wake-up per batch, same outcome as frame by frame.</summary>
public sealed class DropOldestRingBatchTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    [Trait("Invariant", "Ring.I10")]
    public void I10_batch_write_equals_frame_by_frame_writes()
    {
        // 10 frames into a 4-frame ring: the batch evicts its own earliest frames, as single writes would.
        var batched = new DropOldestRing(capacityFrames: 4, capacityBytes: 1_000);
        var single = new DropOldestRing(capacityFrames: 4, capacityBytes: 1_000);
        Frame[] frames = Enumerable.Range(0, 10).Select(id => RingFrames.Numbered(id, size: 10 + id)).ToArray();
        batched.Write(RingFrames.Numbered(100));
        single.Write(RingFrames.Numbered(100));

        int evictedByBatch = batched.WriteBatch(frames);
        int evictedBySingles = frames.Sum(single.Write);

        Assert.Equal(evictedBySingles, evictedByBatch);
        Assert.Equal(7, evictedByBatch);
        Assert.Equal(single.TotalWritten, batched.TotalWritten);
        Assert.Equal(single.TotalLagged, batched.TotalLagged);
        Assert.Equal(single.PeakBytes, batched.PeakBytes);
        Assert.Equal(single.DrainIds(), batched.DrainIds());
        batched.AssertConserved();
    }

    [Fact]
    [Trait("Invariant", "Ring.I10")]
    public void I10_one_batch_wakes_the_consumer_once()
    {
        var scheduler = new PumpedTestScheduler();
        var ring = new DropOldestRing(capacityFrames: 100, capacityBytes: 10_000);
        int wakeUps = 0;
        var seen = new List<int>();
        var batch = new Frame[16];

        Task consumer = scheduler.Run(async () =>
        {
            while (await ring.WaitToReadAsync())
            {
                wakeUps++;
                int taken;
                while ((taken = ring.TryReadBatch(batch)) > 0)
                {
                    seen.AddRange(batch.Take(taken).Select(RingFrames.IdOf));
                }
            }
        });
        scheduler.RunUntilIdle();

        ring.WriteBatch(Enumerable.Range(0, 40).Select(id => RingFrames.Numbered(id)).ToArray());
        Assert.Equal(1, scheduler.Pending); // one wake-up queued for 40 frames
        scheduler.RunUntilIdle();

        Assert.Equal(1, wakeUps);
        Assert.Equal(Enumerable.Range(0, 40), seen);
        Assert.Equal(40, ring.TotalRead);
        ring.Complete();
        scheduler.RunUntilIdle();
        Assert.True(consumer.IsCompletedSuccessfully);
    }

    [Fact]
    [Trait("Invariant", "Ring.I10")]
    public void I10_read_batch_stops_at_the_byte_budget_but_always_takes_the_first_frame()
    {
        var ring = new DropOldestRing(capacityFrames: 100, capacityBytes: 100_000);
        ring.WriteBatch([RingFrames.Numbered(0, size: 500), RingFrames.Numbered(1, size: 10), RingFrames.Numbered(2, size: 10), RingFrames.Numbered(3, size: 100)]);
        var destination = new Frame[10];

        Assert.Equal(1, ring.TryReadBatch(destination, maxBytes: 100)); // 500 B alone: still taken
        Assert.Equal(0, RingFrames.IdOf(destination[0]));
        Assert.Equal(2, ring.TryReadBatch(destination, maxBytes: 100)); // 10 + 10, then 100 would pass 100
        Assert.Equal(1, ring.TryReadBatch(destination, maxBytes: 100));
        Assert.Equal(3, RingFrames.IdOf(destination[0]));
        Assert.Equal(0, ring.TryReadBatch(destination));
        Assert.Equal(4, ring.TotalRead);
        ring.AssertConserved();
    }

    [Fact]
    [Trait("Invariant", "Ring.I11")]
    public void I11_batch_with_a_control_frame_is_rejected_whole()
    {
        var ring = new DropOldestRing(capacityFrames: 10, capacityBytes: 1_000);

        Assert.Throws<ArgumentException>(() => ring.WriteBatch([RingFrames.Numbered(1), Frame.Ping(), RingFrames.Numbered(2)]));

        Assert.Equal(0, ring.Count);
        Assert.Equal(0, ring.TotalWritten);
    }

    [Fact]
    [Trait("Invariant", "Ring.I6")]
    public void Batch_after_complete_is_ignored()
    {
        var ring = new DropOldestRing(capacityFrames: 10, capacityBytes: 1_000);
        ring.Complete();

        Assert.Equal(0, ring.WriteBatch([RingFrames.Numbered(1), RingFrames.Numbered(2)]));

        Assert.Equal(0, ring.TotalWritten);
        Assert.False(ring.WaitToReadAsync().CompletedResult());
    }

    [Fact]
    [Trait("Invariant", "Ring.I9")]
    public void I9_batch_write_and_read_allocate_nothing()
    {
        var ring = new DropOldestRing(capacityFrames: 256, capacityBytes: 8 * 1_024);
        Frame[] frames = Enumerable.Range(0, 64).Select(id => RingFrames.Numbered(id, size: 4 + (id % 29))).ToArray();
        var destination = new Frame[48];
        Run(); // warm up: grow the slot array, JIT

        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        void Run()
        {
            for (int i = 0; i < 2_000; i++)
            {
                ValueTask<bool> wait = ring.WaitToReadAsync();
                ring.WriteBatch(frames.AsSpan(0, 1 + (i % 64)));
                _ = wait.CompletedResult();
                while (ring.TryReadBatch(destination) > 0)
                {
                }
            }
        }
    }

    [Fact]
    [Trait("Invariant", "Ring.I4")]
    public async Task I4_conservation_holds_with_batches_on_two_threads()
    {
        const int total = 200_000;
        var ring = new DropOldestRing(capacityFrames: 64, capacityBytes: 1_024);
        long evictedByWrites = 0;

        Task producer = Task.Factory.StartNew(
            () =>
            {
                var batch = new Frame[37];
                int id = 0;
                while (id < total)
                {
                    int n = Math.Min(1 + (id % batch.Length), total - id);
                    for (int i = 0; i < n; i++, id++)
                    {
                        batch[i] = RingFrames.Numbered(id, size: 4 + (id % 61));
                    }

                    evictedByWrites += ring.WriteBatch(batch.AsSpan(0, n));
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
            var destination = new Frame[16];
            while (await ring.WaitToReadAsync().ConfigureAwait(false))
            {
                int taken;
                while ((taken = ring.TryReadBatch(destination, maxBytes: 300)) > 0)
                {
                    for (int i = 0; i < taken; i++)
                    {
                        int id = RingFrames.IdOf(destination[i]);
                        ordered &= id > lastId;
                        lastId = id;
                    }

                    reads += taken;
                }
            }

            return (reads, lastId, ordered);
        });

        await Task.WhenAll(producer, consumer).WaitAsync(Bound);
        (long reads, int lastId, bool ordered) = await consumer;

        Assert.True(ordered, "frames came out of order");
        Assert.Equal(total - 1, lastId);
        Assert.Equal(total, ring.TotalWritten);
        Assert.Equal(reads, ring.TotalRead);
        Assert.Equal(evictedByWrites, ring.TotalLagged);
        Assert.Equal(0, ring.Count);
        Assert.Equal(ring.TotalWritten, ring.TotalRead + ring.TotalLagged + ring.Count);
    }
}
