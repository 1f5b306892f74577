using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Buffering;

/// <summary>Bounds, eviction order and completion of the receive ring, step by step.</summary>
public sealed class DropOldestRingTests
{
    [Fact]
    [Trait("Invariant", "Ring.I1")]
    public void I1_count_pressure_evicts_oldest_first_and_counts_each_eviction()
    {
        var ring = new DropOldestRing(capacityFrames: 3, capacityBytes: 1_000_000);

        Assert.Equal(0, ring.Write(RingFrames.Numbered(1)));
        Assert.Equal(0, ring.Write(RingFrames.Numbered(2)));
        Assert.Equal(0, ring.Write(RingFrames.Numbered(3)));
        Assert.Equal(1, ring.Write(RingFrames.Numbered(4)));   // evicts 1
        Assert.Equal(1, ring.Write(RingFrames.Numbered(5)));   // evicts 2

        Assert.Equal(3, ring.Count);
        Assert.Equal(2, ring.TotalLagged);
        Assert.Equal(5, ring.TotalWritten);
        Assert.Equal(12, ring.Bytes);
        Assert.Equal([3, 4, 5], ring.DrainIds());
        Assert.Equal(0, ring.Bytes);
        ring.AssertConserved();
    }

    [Fact]
    [Trait("Invariant", "Ring.I1")]
    public void I1_a_single_slot_ring_keeps_only_the_newest()
    {
        var ring = new DropOldestRing(capacityFrames: 1, capacityBytes: 1_000);
        for (int id = 1; id <= 10; id++)
        {
            Assert.Equal(id == 1 ? 0 : 1, ring.Write(RingFrames.Numbered(id)));
            Assert.Equal(1, ring.Count);
        }

        Assert.Equal(9, ring.TotalLagged);
        Assert.Equal([10], ring.DrainIds());
        ring.AssertConserved();
    }

    [Fact]
    [Trait("Invariant", "Ring.I2")]
    public void I2_byte_pressure_evicts_oldest_until_the_newest_fits()
    {
        var ring = new DropOldestRing(capacityFrames: 100, capacityBytes: 100);
        ring.Write(RingFrames.Numbered(1, size: 40));
        ring.Write(RingFrames.Numbered(2, size: 30));
        ring.Write(RingFrames.Numbered(3, size: 30));  // exactly 100: fits, nothing evicted
        Assert.Equal(100, ring.Bytes);
        Assert.Equal(0, ring.TotalLagged);

        // 60 more bytes: evicting 1 (40) leaves 60 + 60 = 120 > 100, so 2 goes too: 30 + 60 = 90.
        Assert.Equal(2, ring.Write(RingFrames.Numbered(4, size: 60)));

        Assert.Equal(2, ring.TotalLagged);
        Assert.Equal(90, ring.Bytes);
        Assert.Equal(100, ring.PeakBytes);
        Assert.Equal([3, 4], ring.DrainIds());
        ring.AssertConserved();
    }

    [Fact]
    [Trait("Invariant", "Ring.I2")]
    public void I2_zero_length_frames_are_bounded_by_count_only()
    {
        var ring = new DropOldestRing(capacityFrames: 2, capacityBytes: 1);
        Assert.Equal(0, ring.Write(Frame.Binary(ReadOnlyMemory<byte>.Empty)));
        Assert.Equal(0, ring.Write(Frame.Text(string.Empty)));
        Assert.Equal(1, ring.Write(Frame.Binary(ReadOnlyMemory<byte>.Empty)));
        Assert.Equal(2, ring.Count);
        Assert.Equal(0, ring.Bytes);
        Assert.Equal(1, ring.TotalLagged);
    }

    [Fact]
    [Trait("Invariant", "Ring.I2")]
    public void I2_frame_larger_than_the_budget_is_admitted_alone()
    {
        var ring = new DropOldestRing(capacityFrames: 100, capacityBytes: 100);
        ring.Write(RingFrames.Numbered(1, size: 10));
        ring.Write(RingFrames.Numbered(2, size: 20));
        ring.Write(RingFrames.Numbered(3, size: 30));

        // One frame bigger than the whole budget: everything older goes, the newest gets in.
        Assert.Equal(3, ring.Write(RingFrames.Numbered(4, size: 250)));
        Assert.Equal(1, ring.Count);
        Assert.Equal(250, ring.Bytes);
        Assert.Equal(250, ring.PeakBytes);  // budget exceeded by at most this one frame

        // The next frame, however small, cannot share the ring with the oversized one.
        Assert.Equal(1, ring.Write(RingFrames.Numbered(5, size: 4)));
        Assert.Equal(4, ring.TotalLagged);
        Assert.Equal(4, ring.Bytes);
        Assert.Equal([5], ring.DrainIds());
        ring.AssertConserved();
    }

    [Fact]
    [Trait("Invariant", "Ring.I2")]
    public void I2_oversized_frame_into_an_empty_ring_evicts_nothing()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 8);
        Assert.Equal(0, ring.Write(RingFrames.Numbered(1, size: 1_000)));
        Assert.Equal(0, ring.TotalLagged);
        Assert.Equal(1_000, ring.PeakBytes);
        Assert.True(ring.TryRead(out Frame frame));
        Assert.Equal(1_000, frame.Length);
    }

    [Fact]
    [Trait("Invariant", "Ring.I3")]
    public void I3_reads_return_frames_in_write_order()
    {
        // The slot array grows (64 -> 128 -> 210) while wrapped around; the peak depth is
        // 49 * 4 + 7 = 203, under the bound, so nothing is evicted and every id must come back.
        var ring = new DropOldestRing(capacityFrames: 210, capacityBytes: long.MaxValue);
        int next = 0;
        var expected = new Queue<int>();
        for (int round = 0; round < 50; round++)
        {
            for (int i = 0; i < 7; i++)
            {
                ring.Write(RingFrames.Numbered(next, text: next % 2 == 0));
                expected.Enqueue(next++);
            }

            for (int i = 0; i < 3; i++)
            {
                Assert.True(ring.TryRead(out Frame frame));
                Assert.Equal(expected.Dequeue(), RingFrames.IdOf(frame));
                Assert.Equal(RingFrames.IdOf(frame) % 2 == 0 ? FrameKind.Text : FrameKind.Binary, frame.Kind);
            }
        }

        // 50 rounds * 4 net = 200 still buffered.
        Assert.Equal(0, ring.TotalLagged);
        Assert.Equal(expected.ToList(), ring.DrainIds());
        Assert.False(ring.TryRead(out Frame none));
        Assert.Equal(default, none);
        ring.AssertConserved();
    }

    [Fact]
    [Trait("Invariant", "Ring.I3")]
    public void I3_the_frame_read_is_the_one_written_not_a_copy()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        Frame written = RingFrames.Numbered(7, size: 10);
        ring.Write(written);
        Assert.True(ring.TryRead(out Frame read));
        Assert.True(written.Payload.Equals(read.Payload));  // same array, offset and length
    }

    [Theory]
    [InlineData(FrameKind.Ping)]
    [InlineData(FrameKind.Pong)]
    [InlineData(FrameKind.Close)]
    [Trait("Invariant", "Ring.I5")]
    public void I5_control_frames_are_rejected(FrameKind kind)
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        Frame control = kind switch
        {
            FrameKind.Ping => Frame.Ping(),
            FrameKind.Pong => Frame.Pong(),
            _ => Frame.Close(CloseCodes.NormalClosure),
        };

        Assert.Throws<ArgumentException>(() => ring.Write(control));
        Assert.Equal(0, ring.Count);
        Assert.Equal(0, ring.TotalWritten);
    }

    [Fact]
    [Trait("Invariant", "Ring.I6")]
    public void I6_write_after_complete_is_ignored_and_buffered_frames_stay_readable()
    {
        var ring = new DropOldestRing(capacityFrames: 2, capacityBytes: 100);
        ring.Write(RingFrames.Numbered(1));
        ring.Write(RingFrames.Numbered(2));
        ring.Complete();

        // A late frame from a dying socket would evict 1 if it were admitted: it must not be.
        Assert.Equal(0, ring.Write(RingFrames.Numbered(3)));
        Assert.True(ring.IsCompleted);
        Assert.Equal(2, ring.Count);
        Assert.Equal(2, ring.TotalWritten);
        Assert.Equal(0, ring.TotalLagged);
        Assert.Equal([1, 2], ring.DrainIds());
        ring.AssertConserved();
    }

    [Fact]
    [Trait("Invariant", "Ring.I6")]
    public void I6_the_first_complete_wins()
    {
        var ring = new DropOldestRing(capacityFrames: 2, capacityBytes: 100);
        ring.Complete();
        ring.Complete(new TransportException(TransportErrorKind.Protocol, "too late"));

        ValueTask<bool> wait = ring.WaitToReadAsync();
        Assert.True(wait.IsCompletedSuccessfully);
        Assert.False(wait.CompletedResult());
    }

    [Theory]
    [InlineData(0, 1L)]
    [InlineData(1, 0L)]
    [InlineData(-1, 10L)]
    public void Constructor_rejects_empty_bounds(int frames, long bytes) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new DropOldestRing(frames, bytes));

    [Fact]
    [Trait("Invariant", "Ring.I13")]
    public void I13_a_tagged_ring_keeps_each_frames_tag_through_eviction_and_growth()
    {
        var ring = new DropOldestRing(capacityFrames: 100, capacityBytes: 1_000_000, tagged: true);

        Write(0, 60);
        ReadExpecting(0, 30);
        Write(60, 40);     // 70 buffered: the 64 slots grow while the buffer wraps around
        Write(100, 60);    // 130 > 100: the 30 oldest (30..59) are evicted
        Assert.Equal(30, ring.TotalLagged);
        ReadExpecting(60, 100);
        Assert.False(ring.TryRead(out _, out _));
        ring.AssertConserved();

        void Write(int from, int count)
        {
            for (int id = from; id < from + count; id++)
            {
                ring.Write(RingFrames.Numbered(id), tag: id % 7);
            }
        }

        void ReadExpecting(int from, int count)
        {
            for (int id = from; id < from + count; id++)
            {
                Assert.True(ring.TryRead(out Frame frame, out int tag));
                Assert.Equal((id, id % 7), (RingFrames.IdOf(frame), tag));
            }
        }
    }
}
