using Transport.WebSockets.Buffering;
using Transport.WebSockets.Connection;

namespace Transport.Tests.Connection;

/// <summary>The up-edge hold on its own: order, bounds, drops and leases (Session.S9's mechanism).</summary>
public sealed class UpEdgeHoldTests
{
    private static Frame[] Texts(params string[] texts) => [.. texts.Select(Frame.Text)];

    private static List<string> ReadAll(DropOldestRing ring)
    {
        var texts = new List<string>();
        while (ring.TryRead(out var frame))
        {
            texts.Add(frame.GetText());
        }

        return texts;
    }

    [Fact]
    [Trait("Invariant", "Hold.H1")]
    public void H1_held_frames_reach_the_ring_in_order_before_any_later_batch()
    {
        var ring = new DropOldestRing(100, 1_000_000);
        var hold = new UpEdgeHold(ring.CapacityFrames, ring.CapacityBytes);

        Assert.True(hold.TryHold(Texts("a", "b"), out var dropped));
        Assert.True(hold.TryHold(Texts("c"), out _));
        Assert.Equal(0, dropped);
        Assert.Equal(0, ring.Count); // nothing readable before the edge
        Assert.Equal(3, hold.Count);

        Assert.Equal(0, hold.Release(ring));
        Assert.True(hold.IsReleased);
        Assert.False(hold.TryHold(Texts("d"), out _)); // after the edge the caller writes to the ring
        ring.WriteBatch(Texts("d"));

        Assert.Equal(["a", "b", "c", "d"], ReadAll(ring));
        Assert.Equal(0, hold.Count);
    }

    [Fact]
    [Trait("Invariant", "Hold.H1")]
    public async Task H1_a_release_racing_the_receive_loop_never_loses_or_reorders_a_frame()
    {
        for (var round = 0; round < 200; round++)
        {
            var ring = new DropOldestRing(100_000, long.MaxValue);
            var hold = new UpEdgeHold(ring.CapacityFrames, ring.CapacityBytes);
            var producer = Task.Run(() =>
            {
                var one = new Frame[1];
                for (var i = 0; i < 2_000; i++)
                {
                    one[0] = Frame.Text(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    if (!hold.TryHold(one, out _))
                    {
                        ring.WriteBatch(one);
                    }
                }
            });
            Thread.Yield();
            hold.Release(ring);
            await producer.WaitAsync(TimeSpan.FromSeconds(30));

            var read = ReadAll(ring).Select(int.Parse).ToList();
            Assert.Equal(Enumerable.Range(0, 2_000), read);
        }
    }

    [Fact]
    [Trait("Invariant", "Hold.H2")]
    [Trait("Invariant", "Hold.H4")]
    public void H2_the_hold_is_bounded_like_the_ring_and_counts_what_it_drops()
    {
        var byCount = new UpEdgeHold(capacityFrames: 3, capacityBytes: 1_000);
        Assert.True(byCount.TryHold(Texts("1", "2", "3", "4", "5"), out var dropped));
        Assert.Equal(2, dropped); // the oldest go first
        var ring = new DropOldestRing(10, 1_000);
        byCount.Release(ring);
        Assert.Equal(["3", "4", "5"], ReadAll(ring));

        var byBytes = new UpEdgeHold(capacityFrames: 100, capacityBytes: 10);
        Assert.True(byBytes.TryHold(Texts("aaaa", "bbbb", "cccc"), out dropped));
        Assert.Equal(1, dropped);
        Assert.Equal(8, byBytes.Bytes);
        Assert.True(byBytes.TryHold(Texts("a-frame-larger-than-the-budget"), out dropped));
        Assert.Equal(2, dropped); // the newest is always admitted, alone
        Assert.Equal(1, byBytes.Count);

        // Hold.H4: a socket that never went up drops what it held, and anything handed off later.
        Assert.Equal(1, byBytes.Drop());
        Assert.True(byBytes.TryHold(Texts("late-1", "late-2"), out dropped));
        Assert.Equal(2, dropped);
        Assert.Equal(0, byBytes.Count);
    }

    [Fact]
    [Trait("Invariant", "Hold.H3")]
    public void H3_leased_frames_the_hold_drops_are_released_exactly_once()
    {
        Frame Leased(byte b) => PayloadAllocator.Leased.Create(FrameKind.Binary, new byte[] { b, b, b, b });
        var hold = new UpEdgeHold(capacityFrames: 2, capacityBytes: 1_000);
        Frame[] frames = [Leased(1), Leased(2), Leased(3)];

        Assert.True(hold.TryHold(frames, out var dropped));
        Assert.Equal(1, dropped);
        Assert.Throws<InvalidOperationException>(() => frames[0].Release()); // the hold released it

        Assert.Equal(2, hold.Drop());
        Assert.Throws<InvalidOperationException>(() => frames[1].Release());
        Assert.Throws<InvalidOperationException>(() => frames[2].Release());

        Frame late = Leased(4);
        Assert.True(hold.TryHold([late], out dropped));
        Assert.Equal(1, dropped);
        Assert.Throws<InvalidOperationException>(() => late.Release());
    }

    [Fact]
    [Trait("Invariant", "Hold.H3")]
    [Trait("Invariant", "Ring.I12")]
    public void H3_held_leased_frames_released_to_the_ring_are_the_consumers()
    {
        var ring = new DropOldestRing(10, 1_000);
        var hold = new UpEdgeHold(ring.CapacityFrames, ring.CapacityBytes);
        Frame leased = PayloadAllocator.Leased.Create(FrameKind.Binary, new byte[] { 1, 2, 3 });
        hold.TryHold([leased], out _);

        hold.Release(ring);

        Assert.True(ring.TryRead(out var read));
        Assert.Equal(new byte[] { 1, 2, 3 }, read.Payload.ToArray()); // still live: nobody released it
        read.Release();
        Assert.Equal(0, ring.LeasesReleased);
    }

    [Fact]
    [Trait("Invariant", "Ring.I4")]
    public void Frames_dropped_before_admission_count_as_lagged_and_keep_conservation()
    {
        var ring = new DropOldestRing(10, 1_000);
        ring.WriteBatch(Texts("a", "b"));
        ring.CountDroppedBeforeAdmission(3);

        Assert.Equal(3, ring.TotalLagged);
        Assert.Equal(ring.TotalWritten, ring.TotalRead + ring.TotalLagged + ring.Count);

        ring.Complete();
        ring.CountDroppedBeforeAdmission(5); // ignored after completion, as writes are
        Assert.Equal(3, ring.TotalLagged);
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.CountDroppedBeforeAdmission(-1));
    }
}
