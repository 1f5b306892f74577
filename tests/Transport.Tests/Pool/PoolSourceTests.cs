using Transport;
using Transport.WebSockets.Buffering;
using Transport.WebSockets;
using Transport.WebSockets.Pool;

namespace Transport.Tests.Pool;

/// <summary>
/// The pool's merged source (issue 26, suspected cases): its bounds, and the leases it drops.
/// </summary>
public sealed class PoolSourceTests
{
    [Fact]
    [Trait("Invariant", "Pool.P10")]
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
    [Trait("Invariant", "Pool.P10")]
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

    [Fact]
    [Trait("Invariant", "Pool.P10")]
    public async Task Disposing_the_pool_leaves_no_frame_behind_in_a_connection_and_every_lease_is_released_once_read()
    {
        var leases = new PayloadLeasePool();
        LeasingConnector? leaf = null;
        var h = new PoolHarness(cap: 1, max: 2, wrapLeaf: inner => leaf = new LeasingConnector(inner, leases));
        h.Add(PoolHarness.Keys(0, 2));
        h.SocketWith("k000").DeliverText("a");
        h.SocketWith("k001").DeliverText("b");
        h.SocketWith("k000").DeliverText("c");

        // Not pumped: the frames are still in the sockets and connections when disposal starts.
        var disposing = h.Pool.DisposeAsync().AsTask();
        for (int i = 0; i < 100 && !disposing.IsCompleted; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Yield();
        }

        await disposing.WaitAsync(TimeSpan.FromSeconds(10));
        var read = new List<string>();
        while (h.Pool.Source.TryRead(out PooledFrame pooled))
        {
            read.Add(pooled.Frame.GetText());
            pooled.Frame.Release();
        }

        Assert.False(await h.Pool.Source.WaitToReadAsync());
        Assert.Equal(leaf!.Created.Count, read.Count);
        Assert.All(leaf.Created, f => Assert.False(f.HoldsLease));
        Assert.Equal(["a", "c"], read.Where(t => t != "b"));
    }

    [Theory]
    [InlineData(0, 1, "MergedCapacityFrames")]
    [InlineData(1, 0, "MergedCapacityBytes")]
    public void Invalid_merged_bounds_fail_at_construction_naming_the_field(int frames, long bytes, string field)
    {
        var connector = new WebSocketTransportBuilder().Configure(o => o.WithUri("ws://venue.test/ws")).UseLeaf(new Transport.Mock.ScriptedConnector()).Build();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new ConnectionPool(
            new ConnectionPoolOptions { PerConnectionCap = 1, MergedCapacityFrames = frames, MergedCapacityBytes = bytes },
            new TextProtocol(),
            connector));

        Assert.Equal(field, error.ParamName);
        Assert.Contains("ConnectionPoolOptions." + field, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_merged_byte_bound_is_a_connections_default_ring()
    {
        Assert.Equal(new ReceiveOptions().RingCapacityBytes, new ConnectionPoolOptions().MergedCapacityBytes);
    }
}
