using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Buffering;

/// <summary>Lease mode: pooled payloads, the ownership rule, and the ring's part in it.</summary>
public sealed class LeaseTests
{
    [Fact]
    public void Owned_frames_are_not_leased_and_release_is_a_no_op()
    {
        Frame owned = PayloadAllocator.Owned.Create(FrameKind.Text, "hello"u8);

        Assert.False(owned.IsLeased);
        owned.Release();
        owned.Release();
        Assert.Equal("hello", owned.GetText());
        Assert.False(Frame.Close(1000).IsLeased);
    }

    [Fact]
    public void A_leased_frame_carries_a_copy_of_the_bytes_and_its_kind()
    {
        byte[] source = [1, 2, 3, 4, 5];
        Frame leased = PayloadAllocator.Leased.Create(FrameKind.Binary, source);
        source[0] = 99; // the frame has its own copy

        Assert.True(leased.IsLeased);
        Assert.Equal(FrameKind.Binary, leased.Kind);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, leased.Payload.ToArray());
        Assert.Equal(0, leased.CloseCode);
        Assert.Equal(Frame.Binary(new byte[] { 1, 2, 3, 4, 5 }), leased); // content equality
        Assert.Contains("leased", leased.ToString(), StringComparison.Ordinal);
        leased.Release();
    }

    [Fact]
    public void An_empty_payload_is_never_leased()
    {
        Frame empty = PayloadAllocator.Leased.Create(FrameKind.Text, ReadOnlySpan<byte>.Empty);

        Assert.False(empty.IsLeased);
        empty.Release();
    }

    [Fact]
    public void A_multi_segment_payload_is_copied_whole()
    {
        var first = new Segment(new byte[] { 1, 2 });
        var last = first.Append(new byte[] { 3, 4, 5 });
        var sequence = new System.Buffers.ReadOnlySequence<byte>(first, 0, last, 3);

        Frame leased = PayloadAllocator.Leased.Create(FrameKind.Binary, sequence);
        Frame owned = PayloadAllocator.Owned.Create(FrameKind.Binary, sequence);

        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, leased.Payload.ToArray());
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, owned.Payload.ToArray());
        Assert.False(owned.IsLeased);
        leased.Release();
    }

    [Fact]
    [Trait("Invariant", "Lease.L1")]
    public void L1_double_release_throws_and_never_returns_twice()
    {
        var pool = new PayloadLeasePool();
        var allocator = PayloadAllocator.Leased;
        Frame frame = Frame.Leased(FrameKind.Binary, Rent(pool, [1, 2, 3]));
        Frame copy = frame; // a struct copy shares the lease and its generation
        PayloadLease lease = Lease(frame);

        frame.Release();
        Assert.Throws<InvalidOperationException>(() => copy.Release());

        // The lease is reused (its slab sealed with every message released); the stale copy still cannot release it.
        pool.FlushThisThread();
        Frame next = Frame.Leased(FrameKind.Binary, Rent(pool, [7, 8]));
        Assert.Same(lease, Lease(next));
        Assert.Throws<InvalidOperationException>(() => frame.Release());
        Assert.Equal(new byte[] { 7, 8 }, next.Payload.ToArray());
        next.Release();
        Assert.True(allocator.IsLeased);
    }

#if DEBUG
    [Fact]
    [Trait("Invariant", "Lease.L2")]
    public void L2_use_after_release_is_detected_in_debug()
    {
        var pool = new PayloadLeasePool();
        Frame frame = Frame.Leased(FrameKind.Text, Rent(pool, "abc"u8.ToArray()));
        ReadOnlyMemory<byte> kept = frame.Payload;
        frame.Release();

        // Idle in the pool: the frame and memory taken from it both refuse.
        Assert.Throws<ObjectDisposedException>(() => frame.Payload);
        Assert.Throws<ObjectDisposedException>(() => kept.Span.Length);

        // Re-leased to another message: the old frame still refuses (generation check).
        Frame next = Frame.Leased(FrameKind.Text, Rent(pool, "xyz"u8.ToArray()));
        Assert.Throws<ObjectDisposedException>(() => frame.Payload);
        Assert.Equal("xyz", next.GetText());
        next.Release();
    }
#endif

    [Fact]
    [Trait("Invariant", "Lease.L1")]
    [Trait("Invariant", "Lease.L9")]
    public void L1_a_shared_lease_returns_once_its_last_holder_released_and_no_holder_releases_twice()
    {
        var pool = new PayloadLeasePool();
        Frame first = Frame.Leased(FrameKind.Binary, Rent(pool, [1, 2, 3]));
        PayloadLease lease = Lease(first);
        Frame second = first.ShareLease();
        Frame third = second.ShareLease();       // a holder shares too (a nested fan-out)

        first.Release();
        Assert.Throws<InvalidOperationException>(() => first.Release());   // its own hold is gone
        Assert.Equal(new byte[] { 1, 2, 3 }, second.Payload.ToArray());    // the others still read it
        Frame other = Frame.Leased(FrameKind.Binary, Rent(pool, [9, 9, 9]));
        Assert.NotSame(lease, Lease(other));                               // not back in the pool yet

        third.Release();
        Assert.Throws<InvalidOperationException>(() => first.ShareLease()); // a released hold cannot share
        second.Release();                                                   // the last hold: the lease is idle
        Assert.Throws<InvalidOperationException>(() => second.Release());
        Assert.Throws<InvalidOperationException>(() => third.Release());
        other.Release();
        pool.FlushThisThread();                                             // every message of the slab released, and sealed: the slab is idle
        Frame reused = Frame.Leased(FrameKind.Binary, Rent(pool, [7, 7, 7]));
        Assert.Same(lease, Lease(reused));                                 // returned exactly once, then reused with its slab
        Assert.Throws<InvalidOperationException>(() => second.Release());   // a holder of the old use stays refused
        reused.Release();
    }

    [Fact]
    [Trait("Invariant", "Lease.L9")]
    public void L9_past_max_holders_a_share_is_a_copy_in_a_lease_of_its_own()
    {
        var pool = new PayloadLeasePool();
        Frame original = Frame.Leased(FrameKind.Text, Rent(pool, "abc"u8.ToArray())).WithEpoch(4).WithReceivedAt(99);
        var holders = new List<Frame> { original };
        for (int i = 1; i < PayloadLease.MaxHolders; i++)
        {
            holders.Add(original.ShareLease());
        }

        Assert.All(holders, h => Assert.Same(Lease(original), Lease(h)));
        Frame copy = original.ShareLease();                                 // the 33rd owner
        Assert.NotSame(Lease(original), Lease(copy));
        Assert.Equal(("abc", 4L, 99L, FrameKind.Text), (copy.GetText(), copy.Epoch, copy.ReceivedAt, copy.Kind));

        foreach (Frame holder in holders)
        {
            holder.Release();
        }

        Assert.Equal("abc", copy.GetText());                                // its own lease: still live
        copy.Release();
        Assert.All(holders, h => Assert.False(h.HoldsLease));
    }

    [Fact]
    public void Sharing_an_owned_frame_returns_it_unchanged()
    {
        Frame owned = Frame.Binary(new byte[] { 1 });

        Assert.Equal(owned, owned.ShareLease());
        Assert.False(owned.ShareLease().IsLeased);
    }

#if DEBUG
    [Fact]
    [Trait("Invariant", "Lease.L2")]
    public void L2_a_holder_reading_after_its_own_release_is_detected_while_others_hold()
    {
        var pool = new PayloadLeasePool();
        Frame mine = Frame.Leased(FrameKind.Binary, Rent(pool, [5, 6]));
        Frame theirs = mine.ShareLease();

        mine.Release();

        Assert.Throws<ObjectDisposedException>(() => mine.Payload);
        Assert.Equal(new byte[] { 5, 6 }, theirs.Payload.ToArray());
        theirs.Release();
    }

    [Fact]
    public void The_debug_tracker_counts_every_hold_and_records_misuse_even_when_the_exception_is_caught()
    {
        var tracker = new LeaseTracker { Quarantine = true };
        var pool = new PayloadLeasePool { Tracker = tracker };
        Frame frame = Frame.Leased(FrameKind.Binary, Rent(pool, [1, 2]));
        PayloadLease lease = Lease(frame);
        Frame share = frame.ShareLease();
        ReadOnlyMemory<byte> kept = share.Payload;
        Assert.Equal((1L, 1L, 2L), (tracker.Rented, tracker.Shared, tracker.Outstanding));

        frame.Release();
        share.Release();
        try
        {
            share.Release();
        }
        catch (InvalidOperationException)
        {
            // swallowed: the tracker still saw it
        }

        Assert.Throws<ObjectDisposedException>(() => kept.Span.Length);      // quarantined: never reused, so caught
        Frame next = Frame.Leased(FrameKind.Binary, Rent(pool, [3, 4]));
        Assert.NotSame(lease, Lease(next));
        next.Release();
        Assert.Equal((2L, 1L, 3L, 2L, 1L, 1L), (tracker.Rented, tracker.Shared, tracker.Released, tracker.Returned, tracker.DoubleReleases, tracker.UsesAfterRelease));
        Assert.Equal(0, tracker.Outstanding);
    }
#endif

    [Fact]
    [Trait("Invariant", "Lease.L3")]
    public void L3_rent_copy_release_allocates_nothing_in_steady_state()
    {
        byte[] message = new byte[100];
        Cycle(); // warm up: the lease objects, ArrayPool's buckets, JIT

        long before = GC.GetAllocatedBytesForCurrentThread();
        Cycle();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        void Cycle()
        {
            for (int i = 0; i < 10_000; i++)
            {
                Frame frame = PayloadAllocator.Leased.Create(FrameKind.Binary, message.AsSpan(0, 1 + (i % 100)));
                frame.Release();
            }
        }
    }

    [Fact]
    [Trait("Invariant", "Ring.I12")]
    public void I12_the_ring_releases_the_leased_frames_it_evicts_or_drops()
    {
        var ring = new DropOldestRing(capacityFrames: 2, capacityBytes: 1_000);
        Frame[] frames = Enumerable.Range(0, 5).Select(i => PayloadAllocator.Leased.Create(FrameKind.Binary, new byte[] { (byte)i, 0, 0, 0 })).ToArray();

        ring.WriteBatch(frames);   // 0, 1, 2 evicted by the batch itself
        Assert.Equal(3, ring.TotalLagged);
        Assert.Equal(3, ring.LeasesReleased);
        Assert.Throws<InvalidOperationException>(() => frames[0].Release()); // the ring already did

        ring.Write(PayloadAllocator.Owned.Create(FrameKind.Binary, new byte[] { 9, 0, 0, 0 })); // evicts 3 (leased)
        Assert.Equal(4, ring.LeasesReleased);

        ring.Complete();
        Frame late = PayloadAllocator.Leased.Create(FrameKind.Binary, new byte[] { 10 });
        Assert.Equal(0, ring.Write(late));
        Assert.Equal(5, ring.LeasesReleased);
        Assert.Throws<InvalidOperationException>(() => late.Release());

        // What the consumer reads is the consumer's to release.
        Assert.True(ring.TryRead(out Frame four));
        Assert.True(four.IsLeased);
        four.Release();
        Assert.True(ring.TryRead(out Frame nine));
        Assert.False(nine.IsLeased);
        Assert.Equal(5, ring.LeasesReleased);
    }

    private static PayloadLease Lease(in Frame frame)
    {
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetMemoryManager(frame.Payload, out PayloadLease? lease));
        return lease!;
    }

    private static PayloadLease Rent(PayloadLeasePool pool, byte[] bytes)
    {
        PayloadLease lease = pool.Rent(bytes.Length);
        bytes.CopyTo(lease.Writable);
        return lease;
    }

    private sealed class Segment : System.Buffers.ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
