using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Buffering;

/// <summary>The producer path runs once per received frame: it must not allocate.</summary>
public sealed class DropOldestRingAllocationTests
{
    private const int Operations = 10_000;

    [Fact]
    [Trait("Invariant", "Ring.I9")]
    public void I9_steady_state_write_and_read_allocate_nothing()
    {
        var ring = new DropOldestRing(capacityFrames: 1_024, capacityBytes: 8 * 1_024);
        Frame[] frames = MakeFrames();

        // Warm up: grow the slot array to its bound and JIT every path (admit, evict, read).
        WriteAndRead(ring, frames);
        Assert.True(ring.TotalLagged > 0, "the warm-up must reach eviction");

        long before = GC.GetAllocatedBytesForCurrentThread();
        WriteAndRead(ring, frames);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Fact]
    [Trait("Invariant", "Ring.I9")]
    public void I9_waiting_and_waking_allocate_nothing()
    {
        var ring = new DropOldestRing(capacityFrames: 16, capacityBytes: 1_024);
        Frame[] frames = MakeFrames();
        WaitWriteRead(ring, frames);  // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        WaitWriteRead(ring, frames);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(2L * Operations, ring.TotalRead);
    }

    private static Frame[] MakeFrames()
    {
        var frames = new Frame[256];
        for (int i = 0; i < frames.Length; i++)
        {
            frames[i] = RingFrames.Numbered(i, size: 4 + (i % 29));
        }

        return frames;
    }

    // Two reads per three writes: the ring fills to its bound and then evicts on every write.
    private static void WriteAndRead(DropOldestRing ring, Frame[] frames)
    {
        for (int i = 0; i < Operations; i++)
        {
            ring.Write(frames[i & 255]);
            if (i % 3 != 0)
            {
                ring.TryRead(out _);
            }
        }
    }

    // A consumer that keeps up: every frame is preceded by a pending wait the write completes.
    private static void WaitWriteRead(DropOldestRing ring, Frame[] frames)
    {
        for (int i = 0; i < Operations; i++)
        {
            ValueTask<bool> wait = ring.WaitToReadAsync();
            ring.Write(frames[i & 255]);
            if (!wait.CompletedResult() || !ring.TryRead(out _))
            {
                throw new InvalidOperationException("the write did not wake the wait");
            }
        }
    }
}
