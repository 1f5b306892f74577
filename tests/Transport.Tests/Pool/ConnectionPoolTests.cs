using Transport.Mock;
using Transport.WebSockets.Pool;

namespace Transport.Tests.Pool;

/// <summary>The pool's rules over Transport.Mock: scripted connectors, manual clock, pumped spawn.</summary>
public sealed class ConnectionPoolTests
{
    [Fact]
    [Trait("Invariant", "Pool.P1")]
    [Trait("Invariant", "Pool.P2")]
    public void P2_connections_open_on_demand_and_fill_first_under_the_cap()
    {
        var h = new PoolHarness(cap: 25, max: 5);
        h.Add(PoolHarness.Keys(0, 10));
        Assert.Single(h.Connectors);

        h.Add(PoolHarness.Keys(10, 50));
        Assert.Equal(3, h.Connectors.Count);

        var now = h.Pool.Current;
        Assert.Equal([25, 25, 10], now.Connections.Select(c => c.Subscriptions));
        Assert.Equal(3, now.Up);
        Assert.True(now.AllSubscribed, now.ToString());
        Assert.Equal(60, now.Subscriptions);

        // Every key on exactly one socket; the first socket got its first ten in one frame, then the rest.
        var all = h.Connectors.SelectMany(c => PoolHarness.Subscribed(c.Current!)).ToList();
        Assert.Equal(PoolHarness.Keys(0, 60).Order(), all.Order());
        Assert.Equal(2, h.Connectors[0].Current!.SentTexts.Count);
        Assert.Single(h.Connectors[2].Current!.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Pool.P3")]
    public void P3_a_reconnected_connection_resubscribes_exactly_its_share_and_nobody_else_sends()
    {
        var h = new PoolHarness(cap: 25, max: 5);
        h.Add(PoolHarness.Keys(0, 60));
        var before = h.Connectors.Select(c => c.Current!).ToArray();
        var share1 = PoolHarness.Subscribed(before[1]);

        before[1].Disconnect();
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1));

        var reconnected = h.Connectors[1].Current!;
        Assert.NotSame(before[1], reconnected);
        Assert.Equal(share1, PoolHarness.Subscribed(reconnected));
        Assert.Single(reconnected.SentTexts);                      // one batch, one frame
        Assert.Single(before[0].SentTexts);
        Assert.Single(before[2].SentTexts);
        var state = h.Pool.Current.Connections[1];
        Assert.Equal((1L, 1L), (state.Epoch, state.ReplayedEpoch));
    }

    [Fact]
    [Trait("Invariant", "Pool.P4")]
    public void P4_changes_while_up_go_to_the_owner_only_and_changes_while_down_fold_into_the_replay()
    {
        var h = new PoolHarness(cap: 3, max: 2, script: (index, c) =>
        {
            if (index == 1)
            {
                c.Next.Succeeds();
                c.Next.Fails(TransportException.Connection("refused")); // slot 1 stays down for one backoff
            }
        });
        h.Add(PoolHarness.Keys(0, 5));                             // slot 0: k000-k002, slot 1: k003-k004
        var s0 = h.Connectors[0].Current!;
        var s1 = h.Connectors[1].Current!;

        h.Remove(["k001"]);
        Assert.Equal("unsub:k001", s0.SentTexts[^1]);
        h.Add(["k005"]);                                           // the lowest slot with room: slot 0 again
        Assert.Equal("sub:k005", s0.SentTexts[^1]);
        Assert.Single(s1.SentTexts);

        s1.Disconnect();
        h.Pump();
        h.Remove(["k003"]);
        h.Add(["k006"]);                                           // while slot 1 is down: nothing sent now
        Assert.Equal(ConnectionPhase.Reconnecting, h.Pool.Current.Connections[1].Phase);
        Assert.Single(s1.SentTexts);
        h.Advance(TimeSpan.FromSeconds(1));
        h.Advance(TimeSpan.FromSeconds(2));

        var again = h.Connectors[1].Current!;
        Assert.Equal(["sub:k004,k006"], again.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Pool.P5")]
    public void P5_an_unrecoverable_connection_is_replaced_and_its_keys_move()
    {
        var h = new PoolHarness(cap: 4, max: 2);
        h.Add(PoolHarness.Keys(0, 6));                             // slot 0: 4 keys, slot 1: 2 keys
        var lostKeys = PoolHarness.Subscribed(h.Connectors[0].Current!);

        h.Connectors[0].Current!.DeliverClose(4003, "key revoked");  // Permanent, no retries: Unrecoverable
        h.Pump();

        var now = h.Pool.Current;
        Assert.Equal(1, now.Lost);
        Assert.Empty(now.Unassigned);
        Assert.Equal(3, h.Connectors.Count);                       // slot 0 reopened with a fresh connection
        Assert.Equal([0, 1], now.Connections.Select(c => c.Index));
        Assert.Equal([2, 4], now.Connections.Select(c => c.Subscriptions).Order());
        var moved = PoolHarness.Subscribed(h.Connectors[1].Current!).Skip(2)
            .Concat(PoolHarness.Subscribed(h.Connectors[2].Current!)).Order();
        Assert.Equal(lostKeys.Order(), moved);
        Assert.True(now.AllSubscribed, now.ToString());
    }

    [Fact]
    [Trait("Invariant", "Pool.P5")]
    [Trait("Invariant", "Pool.P1")]
    public void P5_keys_with_no_room_are_listed_unassigned_and_placed_when_room_opens()
    {
        var h = new PoolHarness(cap: 2, max: 2);
        h.Add(PoolHarness.Keys(0, 4));
        h.Connectors[1].Current!.DeliverClose(4003, "revoked");
        h.Pump();

        // Slot 1 was replaced by a new connection: all four keys still placed.
        Assert.Empty(h.Pool.Current.Unassigned);
        Assert.Equal(3, h.Connectors.Count);

        var p = new PoolHarness(cap: 2, max: 1, script: (index, c) =>
        {
            c.Next.Succeeds();
            c.DefaultOutcome = AttemptOutcome.Fail(TransportException.HandshakeRejected(401));
        });
        p.Add(PoolHarness.Keys(0, 2));
        p.Connectors[0].Current!.DeliverClose(4003, "revoked");
        p.Pump();
        p.Advance(TimeSpan.FromSeconds(1));                        // the replacement's first attempt: 401, Permanent

        var now = p.Pool.Current;
        Assert.True(now.Lost >= 1);
        Assert.Equal(2, now.Subscriptions);
        Assert.True(now.Unassigned.Count + now.Connections.Sum(c => c.Subscriptions) == 2, now.ToString());
    }

    [Fact]
    [Trait("Invariant", "Pool.P6")]
    public void P6_the_merged_source_keeps_each_frames_connection_and_epoch()
    {
        var h = new PoolHarness(cap: 1, max: 2);
        h.Add(PoolHarness.Keys(0, 2));
        h.Connectors[1].Current!.Disconnect();
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1));

        h.Connectors[0].Current!.DeliverText("a1");
        h.Connectors[1].Current!.DeliverText("b1");
        h.Connectors[0].Current!.DeliverText("a2");
        h.Pump();

        var frames = new List<PooledFrame>();
        while (h.Pool.Source.TryRead(out var f))
        {
            frames.Add(f);
        }

        Assert.Equal(["a1", "a2"], frames.Where(f => f.Connection == 0).Select(f => f.Frame.GetText()));
        // The pool passes frames through unchanged: their epoch is whatever the connection stamped
        // (-1 on a stack that does not stamp yet; the Frame.Epoch contract is f9f4a53).
        Assert.All(frames.Where(f => f.Connection == 0), f => Assert.Contains(f.Frame.Epoch, new[] { -1L, 0L }));
        var b = Assert.Single(frames, f => f.Connection == 1);
        Assert.Equal("b1", b.Frame.GetText());
        Assert.Contains(b.Frame.Epoch, new[] { -1L, 1L });
    }

    [Fact]
    [Trait("Invariant", "Pool.P7")]
    public async Task P7_adding_beyond_capacity_fails_and_assigns_nothing()
    {
        var h = new PoolHarness(cap: 25, max: 2);
        h.Add(PoolHarness.Keys(0, 40));

        var adding = h.Pool.AddAsync(PoolHarness.Keys(40, 11)).AsTask();
        h.Pump();
        var error = await Assert.ThrowsAsync<PoolCapacityException>(() => adding);
        Assert.Equal((51, 50), (error.Requested, error.Capacity));
        Assert.Equal(40, h.Pool.Current.Subscriptions);
        Assert.Equal(2, h.Connectors.Count);
    }

    [Fact]
    public async Task Disposing_the_pool_shuts_every_connection_down_and_ends_the_merged_source()
    {
        var h = new PoolHarness(cap: 2, max: 3);
        h.Add(PoolHarness.Keys(0, 5));

        var disposing = h.Pool.DisposeAsync().AsTask();
        for (int i = 0; i < 100 && !disposing.IsCompleted; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Yield();
        }

        await disposing.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.All(h.Pool.Connections, c => Assert.Equal(ConnectionPhase.Closed, c.Lifecycle.Current.Phase));
        Assert.False(await h.Pool.Source.WaitToReadAsync());
    }

    [Theory]
    [InlineData(0, 1, "PerConnectionCap")]
    [InlineData(1, 0, "MaxConnections")]
    public void Invalid_options_fail_naming_the_field(int cap, int max, string field)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new ConnectionPool(
            new ConnectionPoolOptions { PerConnectionCap = cap, MaxConnections = max },
            new TextProtocol(),
            (_, _) => throw new InvalidOperationException("not called")));
        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }
}
