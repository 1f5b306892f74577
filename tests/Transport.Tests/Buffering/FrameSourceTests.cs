using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Buffering;

/// <summary>The adapter-facing source: batch reads from the ring into a read-ahead the source owns.</summary>
public sealed class FrameSourceTests
{
    [Fact]
    [Trait("Invariant", "Source.S1")]
    public async Task S1_mixed_reads_yield_every_frame_once_in_order()
    {
        var ring = new DropOldestRing(capacityFrames: 10_000, capacityBytes: 10_000_000);
        IFrameSource source = new FrameSource(ring);
        ring.WriteBatch(Enumerable.Range(0, 500).Select(id => RingFrames.Numbered(id)).ToArray());
        ring.Complete();
        var seen = new List<int>();
        var batch = new Frame[7];
        int step = 0;

        while (await source.WaitToReadAsync())
        {
            switch (step++ % 4)
            {
                case 0:
                    Assert.True(source.TryRead(out Frame one));
                    seen.Add(RingFrames.IdOf(one));
                    break;
                case 1:
                    int taken = source.TryReadBatch(batch);
                    seen.AddRange(batch.Take(taken).Select(RingFrames.IdOf));
                    break;
                case 2:
                    int read = await source.ReadBatchAsync(batch);
                    seen.AddRange(batch.Take(read).Select(RingFrames.IdOf));
                    break;
                default:
                    await foreach (Frame frame in source)
                    {
                        seen.Add(RingFrames.IdOf(frame));
                        if (seen.Count % 13 == 0)
                        {
                            break; // leaves read-ahead behind: the next read must continue from it
                        }
                    }

                    break;
            }
        }

        Assert.Equal(Enumerable.Range(0, 500), seen);
        Assert.Equal(0, source.Count);
        Assert.Equal(0, await source.ReadBatchAsync(batch));
    }

    [Fact]
    [Trait("Invariant", "Source.S1")]
    public async Task S1_breaking_out_of_await_foreach_loses_nothing()
    {
        var ring = new DropOldestRing(capacityFrames: 1_000, capacityBytes: 1_000_000);
        IFrameSource source = new FrameSource(ring);
        ring.WriteBatch(Enumerable.Range(0, 100).Select(id => RingFrames.Numbered(id)).ToArray());

        await foreach (Frame frame in source)
        {
            Assert.Equal(0, RingFrames.IdOf(frame));
            break;
        }

        // The first batch (64 frames) left the ring; 63 of them wait in the source's read-ahead.
        Assert.Equal(99, source.Count);
        Assert.Equal(36, ring.Count);
        Assert.True(source.TryRead(out Frame next));
        Assert.Equal(1, RingFrames.IdOf(next));
        Assert.Equal(100, ring.TotalRead + ring.Count);
    }

    [Fact]
    [Trait("Invariant", "Source.S2")]
    public void S2_read_ahead_is_bounded_by_frames_and_bytes()
    {
        var ring = new DropOldestRing(capacityFrames: 10_000, capacityBytes: 100_000_000);
        var source = new FrameSource(ring);

        // Small frames: at most ReadAheadFrames leave the ring per batch.
        ring.WriteBatch(Enumerable.Range(0, 200).Select(id => RingFrames.Numbered(id, size: 10)).ToArray());
        Assert.True(source.TryRead(out _));
        Assert.Equal(200 - FrameSource.ReadAheadFrames, ring.Count);
        Assert.Equal(199, source.Count);
        Assert.Equal(199L * 10, source.BufferedBytes);
        while (source.TryRead(out _))
        {
        }

        // 10 KiB frames: at most ReadAheadBytes of payload per batch.
        ring.WriteBatch(Enumerable.Range(0, 20).Select(id => RingFrames.Numbered(id, size: 10 * 1024)).ToArray());
        Assert.True(source.TryRead(out _));
        Assert.Equal(20 - (int)(FrameSource.ReadAheadBytes / (10 * 1024)), ring.Count);
        while (source.TryRead(out _))
        {
        }

        // One frame larger than the budget still comes through, alone.
        ring.WriteBatch([RingFrames.Numbered(1, size: 200_000), RingFrames.Numbered(2, size: 10)]);
        Assert.True(source.TryRead(out Frame big));
        Assert.Equal(200_000, big.Length);
        Assert.Equal(1, ring.Count);
    }
    [Fact]
    [Trait("Invariant", "Source.S3")]
    public async Task S3_an_emptied_read_ahead_holds_no_array()
    {
        var ring = new DropOldestRing(capacityFrames: 1_000, capacityBytes: 1_000_000);
        var source = new FrameSource(ring);
        Assert.False(source.HoldsReadAheadArray);

        ring.WriteBatch(Enumerable.Range(0, 10).Select(id => RingFrames.Numbered(id)).ToArray());
        Assert.True(source.TryRead(out Frame first));
        Assert.Equal(0, RingFrames.IdOf(first));
        Assert.True(source.HoldsReadAheadArray); // nine frames still in the read-ahead

        await foreach (Frame frame in source)
        {
            if (RingFrames.IdOf(frame) == 9)
            {
                break;
            }
        }

        // Every frame handed out: the array went back, and a consumer waiting now holds none.
        Assert.False(source.HoldsReadAheadArray);
        var wait = source.WaitToReadAsync();
        Assert.False(wait.IsCompleted);
        Assert.False(source.HoldsReadAheadArray);
        ring.Write(RingFrames.Numbered(10));
        Assert.True(await wait);
        Assert.True(source.TryRead(out Frame last));
        Assert.Equal(10, RingFrames.IdOf(last));
        Assert.False(source.HoldsReadAheadArray);
    }
}
