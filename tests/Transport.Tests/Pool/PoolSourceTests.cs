using Transport;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Pool;

namespace Transport.Tests.Pool;

/// <summary>
/// The pool's merged source (issue 26, suspected cases): its bounds, and the leases it drops.
/// </summary>
public sealed class PoolSourceTests
{
    [Fact]
    public void Merged_source_drops_release_their_leases()
    {
        var leases = new PayloadLeasePool();
        LeasingConnector? leaf = null;
        var h = new PoolHarness(
            cap: 1,
            max: 1,
            wrapLeaf: inner => leaf = new LeasingConnector(inner, leases),
            poolOptions: o => o with { MergedCapacityFrames = 2 });
        h.Add(PoolHarness.Keys(0, 1));

        var socket = h.SocketWith("k000");
        for (int i = 0; i < 5; i++)
        {
            socket.DeliverText($"m{i}");
        }

        h.Pump();

        Assert.Equal(3, h.Pool.Source.TotalDropped);
        var created = leaf!.Created;
        Assert.Equal(5, created.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.Throws<InvalidOperationException>(() => created[i].Release()); // the merged source released it
        }

        for (int i = 3; i < 5; i++)
        {
            Assert.True(h.Pool.Source.TryRead(out PooledFrame read));
            Assert.Equal($"m{i}", read.Frame.GetText());
            read.Frame.Release();
        }
    }

    [Fact]
    public void Merged_source_is_bounded_by_bytes_not_only_by_count()
    {
        // Each connection's ring holds at most 4 KiB; the pool's pumps drain the rings into the merged
        // source at once, so nothing but the merged source's own bound limits what a stalled pool
        // consumer holds.
        const long RingBytes = 4096;
        const long MergedBytes = 8192;
        var h = new PoolHarness(
            cap: 1,
            max: 2,
            configure: o => o.WithReceiveRing(1_000, RingBytes),
            poolOptions: o => o with { MergedCapacityBytes = MergedBytes });
        h.Add(PoolHarness.Keys(0, 2));

        for (int round = 0; round < 16; round++)
        {
            // Four 1 KiB frames per connection and round: each ring stays within its 4 KiB, and the
            // pool's pumps (which keep up) move them on while the pool's consumer reads nothing.
            foreach (var key in new[] { "k000", "k001" })
            {
                var socket = h.SocketWith(key);
                for (int i = 0; i < 4; i++)
                {
                    socket.DeliverBinary(new byte[1024]);
                }
            }

            h.Pump();
        }

        Assert.All(h.Pool.Connections, c => Assert.Equal(0, c.Lifecycle.Current.TotalLagged));
        Assert.Equal(MergedBytes, h.Pool.Source.BufferedBytes);
        Assert.Equal(8, h.Pool.Source.Count);
        Assert.Equal(128 - 8, h.Pool.Source.TotalDropped);                     // 128 frames of 1 KiB arrived
        Assert.Equal(128 - 8, h.Pool.Current.MergedDropped);

        long held = 0;
        while (h.Pool.Source.TryRead(out PooledFrame read))
        {
            held += read.Frame.Length;
        }

        Assert.True(held <= MergedBytes, $"the merged source held {held} B behind a stalled consumer; its bound is {MergedBytes} B");
    }
}
