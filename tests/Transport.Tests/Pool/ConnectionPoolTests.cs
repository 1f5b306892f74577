using Transport.Mock;
using Transport.WebSockets;
using Transport.WebSockets.Pool;

namespace Transport.Tests.Pool;

/// <summary>The pool's rules over Transport.Mock: one scripted leaf, manual clock, pumped spawn.</summary>
public sealed class ConnectionPoolTests
{
    private static readonly TransportException Refused = TransportException.Connection("refused");

    [Fact]
    [Trait("Invariant", "Pool.P1")]
    [Trait("Invariant", "Pool.P2")]
    public void P2_connections_open_on_demand_and_fill_first_under_the_cap()
    {
        var h = new PoolHarness(cap: 25, max: 5);
        h.Add(PoolHarness.Keys(0, 10));
        Assert.Single(h.Leaf.Sockets);

        h.Add(PoolHarness.Keys(10, 50));
        Assert.Equal(3, h.Leaf.Sockets.Count);

        var now = h.Pool.Current;
        Assert.Equal([25, 25, 10], now.Connections.Select(c => c.Subscriptions));
        Assert.Equal(["venue-0", "venue-1", "venue-2"], now.Connections.Select(c => c.Name));
        Assert.Equal(3, now.Up);
        Assert.True(now.AllSubscribed, now.ToString());
        Assert.Equal(60, now.Subscriptions);

        // Every key on exactly one socket; the first socket got its first ten at its replay, then the rest as a change.
        var all = h.Leaf.Sockets.SelectMany(PoolHarness.Subscribed).ToList();
        Assert.Equal(PoolHarness.Keys(0, 60).Order(), all.Order());
        Assert.Equal(["sub:" + string.Join(',', PoolHarness.Keys(0, 10)), "sub:" + string.Join(',', PoolHarness.Keys(10, 15))], h.Leaf.Sockets[0].SentTexts);
        Assert.Single(h.Leaf.Sockets[2].SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Pool.P1")]
    [Trait("Invariant", "Pool.P2")]
    public void P2_spread_opens_up_to_max_connections_and_places_each_key_on_the_least_loaded()
    {
        var h = new PoolHarness(cap: 25, max: 5, placement: PoolPlacement.Spread);
        h.Add(PoolHarness.Keys(0, 3));
        Assert.Equal([1, 1, 1], h.Pool.Current.Connections.Select(c => c.Subscriptions));   // never more sockets than keys

        h.Add(PoolHarness.Keys(3, 97));
        var now = h.Pool.Current;
        Assert.Equal([20, 20, 20, 20, 20], now.Connections.Select(c => c.Subscriptions));
        Assert.Equal(5, h.Leaf.Sockets.Count);
        Assert.True(now.AllSubscribed, now.ToString());
        Assert.Equal(PoolHarness.Keys(0, 100).Order(), h.Leaf.Sockets.SelectMany(PoolHarness.Subscribed).Order());

        h.Add(PoolHarness.Keys(100, 25));                          // up to the cap everywhere, never beyond
        Assert.Equal([25, 25, 25, 25, 25], h.Pool.Current.Connections.Select(c => c.Subscriptions));
        Assert.True(h.Pool.Current.AllSubscribed, h.Pool.Current.ToString());
    }

    [Fact]
    [Trait("Invariant", "Pool.P3")]
    public void P3_every_epoch_replays_exactly_the_share_through_the_initializer_before_queued_frames_and_the_up_edge()
    {
        var protocol = new RecordingProtocol();
        var h = new PoolHarness(cap: 25, max: 5, protocol: protocol);
        protocol.Pool = h.Pool;
        h.Add(PoolHarness.Keys(0, 60));
        var first = h.Leaf.Sockets.ToArray();
        var share1 = PoolHarness.Subscribed(first[1]);
        Assert.Equal(PoolHarness.Keys(25, 25), share1);

        var slot1 = h.Pool.Connections[1];
        var upEdges = new List<(long Epoch, string[] SentAtUpEdge)>();
        using var watch = slot1.Lifecycle.Subscribe(new Observer(s =>
        {
            if (s.Phase == ConnectionPhase.Resumed)
            {
                upEdges.Add((s.Epoch, [.. h.Leaf.Current!.SentTexts]));
            }
        }));

        for (var epoch = 1; epoch <= 2; epoch++)
        {
            h.SocketWith("k025").Disconnect();
            h.Pump();
            Assert.Equal(ConnectionPhase.Reconnecting, slot1.Lifecycle.Current.Phase);

            // Queued while down: must reach the next socket only after the replay.
            _ = slot1.Sink.SendAsync(Frame.Text($"order-{epoch}")).AsTask();
            h.Advance(TimeSpan.FromSeconds(epoch));                 // backoff 1 s, then 2 s (not yet stable)

            var socket = h.Leaf.Current!;
            Assert.Equal(["sub:" + string.Join(',', share1), $"order-{epoch}"], socket.SentTexts);
            Assert.Equal((long)epoch, slot1.Lifecycle.Current.Epoch);
            Assert.Equal((epoch, ConnectionPhase.Resumed), (upEdges[^1].Epoch, slot1.Lifecycle.Current.Phase));
            Assert.Equal("sub:" + string.Join(',', share1), upEdges[^1].SentAtUpEdge[0]);  // written before the up-edge was seen

            // The grammar was asked while the connection was not up yet (inside the session initializer).
            var call = protocol.Calls[^1];
            Assert.Equal(("venue-1", share1.Count, false), (call.Connection, call.Keys.Count, call.WasUp));
            var state = h.Pool.Current.Connections[1];
            Assert.Equal(((long)epoch, (long)epoch, true), (state.Epoch, state.ReplayedEpoch, state.InSync));
        }

        // Nobody else sent anything because of slot 1's epochs: each other socket still has its one replay.
        Assert.Single(first[0].SentTexts);
        Assert.Single(first[2].SentTexts);
        Assert.Equal(5, h.Leaf.Sockets.Count);
        Assert.Equal(3, protocol.Calls.Count(c => c.Connection == "venue-1"));
        Assert.Equal(1, protocol.Calls.Count(c => c.Connection == "venue-0"));
    }

    [Fact]
    [Trait("Invariant", "Pool.P3")]
    public void P3_the_connectors_own_initializer_runs_first_then_the_replay()
    {
        var login = SessionInitializers.From((ctx, ct) => ctx.Sink.SendAsync(Frame.Text($"login:{ctx.Epoch}"), ct));
        var h = new PoolHarness(cap: 2, max: 2, login: login);
        h.Add(PoolHarness.Keys(0, 3));

        Assert.Equal(["login:0", "sub:k000,k001"], h.Leaf.Sockets[0].SentTexts);
        Assert.Equal(["login:0", "sub:k002"], h.Leaf.Sockets[1].SentTexts);

        h.Leaf.Sockets[1].Disconnect();
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["login:1", "sub:k002"], h.Leaf.Current!.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Pool.P3")]
    public void P3_a_grammar_that_throws_fails_the_sockets_initialization_and_the_next_socket_replays()
    {
        var protocol = new RecordingProtocol { ThrowOnCall = 2 };
        var h = new PoolHarness(cap: 5, max: 1, protocol: protocol);
        h.Add(PoolHarness.Keys(0, 3));
        h.Leaf.Current!.Disconnect();
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1));                        // epoch 1: the grammar throws, the attempt fails

        var failed = h.Leaf.Sockets[1];
        Assert.Empty(failed.SentTexts);
        Assert.NotEqual(ConnectionPhase.Resumed, h.Pool.Current.Connections[0].Phase);
        Assert.False(h.Pool.Current.AllSubscribed);

        h.Advance(TimeSpan.FromSeconds(2));                        // the next socket replays the whole share
        Assert.Equal(3, h.Leaf.Sockets.Count);
        Assert.Equal(["sub:k000,k001,k002"], h.Leaf.Current!.SentTexts);
        Assert.True(h.Pool.Current.AllSubscribed, h.Pool.Current.ToString());
    }

    [Fact]
    [Trait("Invariant", "Pool.P4")]
    public void P4_changes_while_up_go_to_the_owner_only_and_changes_while_down_fold_into_the_replay()
    {
        var h = new PoolHarness(cap: 3, max: 2);
        h.Add(PoolHarness.Keys(0, 5));                             // slot 0: k000-k002, slot 1: k003-k004
        var s0 = h.Leaf.Sockets[0];
        var s1 = h.Leaf.Sockets[1];

        h.Remove(["k001"]);
        Assert.Equal("unsub:k001", s0.SentTexts[^1]);
        h.Add(["k005"]);                                           // the lowest slot with room: slot 0 again
        Assert.Equal("sub:k005", s0.SentTexts[^1]);
        Assert.Single(s1.SentTexts);

        h.Leaf.Next.Fails(Refused);                                // slot 1 stays down for one backoff
        s1.Disconnect();
        h.Pump();
        h.Remove(["k003"]);
        h.Add(["k006"]);                                           // while slot 1 is down: nothing sent now
        Assert.Equal(ConnectionPhase.Reconnecting, h.Pool.Current.Connections[1].Phase);
        Assert.Single(s1.SentTexts);
        Assert.False(h.Pool.Current.Connections[1].InSync);
        h.Advance(TimeSpan.FromSeconds(1));
        h.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(["sub:k004,k006"], h.Leaf.Current!.SentTexts);
        Assert.Equal(3, s0.SentTexts.Count);                      // slot 1's epoch sent nothing on slot 0
        Assert.True(h.Pool.Current.AllSubscribed, h.Pool.Current.ToString());
    }

    [Fact]
    [Trait("Invariant", "Pool.P5")]
    public void P5_an_unrecoverable_connection_is_replaced_and_its_keys_move()
    {
        var h = new PoolHarness(cap: 4, max: 2);
        h.Add(PoolHarness.Keys(0, 6));                             // slot 0: 4 keys, slot 1: 2 keys
        var lostKeys = PoolHarness.Subscribed(h.Leaf.Sockets[0]);
        var slot1 = h.Leaf.Sockets[1];

        h.Leaf.Sockets[0].DeliverClose(4003, "key revoked");       // Permanent, no retries: Unrecoverable
        h.Pump();

        var now = h.Pool.Current;
        Assert.Equal(1, now.Lost);
        Assert.Empty(now.Unassigned);
        Assert.Equal(3, h.Leaf.Sockets.Count);                     // slot 0 reopened with a fresh connection
        Assert.Equal([0, 1], now.Connections.Select(c => c.Index));
        Assert.Equal([2, 4], now.Connections.Select(c => c.Subscriptions).Order());
        var moved = PoolHarness.Subscribed(slot1).Skip(2).Concat(PoolHarness.Subscribed(h.Leaf.Sockets[2])).Order();
        Assert.Equal(lostKeys.Order(), moved);
        Assert.True(now.AllSubscribed, now.ToString());
        Assert.Equal(6, h.Leaf.Sockets.Skip(1).SelectMany(PoolHarness.Subscribed).Distinct().Count());
    }

    [Fact]
    [Trait("Invariant", "Pool.P5")]
    [Trait("Invariant", "Pool.P1")]
    public async Task P5_keys_of_a_connection_that_never_came_up_stay_unassigned_until_reassigned()
    {
        var h = new PoolHarness(cap: 2, max: 2, script: leaf =>
        {
            leaf.Next.Succeeds();
            leaf.Next.Fails(TransportException.HandshakeRejected(401)); // slot 1's first attempt: Permanent
        });
        h.Add(PoolHarness.Keys(0, 4));

        var now = h.Pool.Current;
        Assert.Equal(1, now.Lost);
        Assert.Equal(["k002", "k003"], now.Unassigned.Order());     // no room on slot 0; no blind replacement
        Assert.Equal(4, now.Subscriptions);
        Assert.Equal(2, h.Leaf.Attempts);
        Assert.Single(now.Connections);

        var reassigning = h.Pool.ReassignAsync().AsTask();        // the operator fixed the credentials
        h.Pump();
        await reassigning;
        now = h.Pool.Current;
        Assert.Empty(now.Unassigned);
        Assert.Equal(["sub:k002,k003"], h.Leaf.Current!.SentTexts);
        Assert.True(now.AllSubscribed, now.ToString());
    }

    [Fact]
    [Trait("Invariant", "Pool.P6")]
    public void P6_the_merged_source_keeps_each_frames_connection_and_epoch()
    {
        var h = new PoolHarness(cap: 1, max: 2);
        h.Add(PoolHarness.Keys(0, 2));
        h.SocketWith("k001").Disconnect();
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1));

        h.SocketWith("k000").DeliverText("a1");
        h.SocketWith("k001").DeliverText("b1");
        h.SocketWith("k000").DeliverText("a2");
        h.Pump();

        var frames = new List<PooledFrame>();
        while (h.Pool.Source.TryRead(out var f))
        {
            frames.Add(f);
        }

        Assert.Equal(["a1", "a2"], frames.Where(f => f.Connection == 0).Select(f => f.Frame.GetText()));
        Assert.All(frames.Where(f => f.Connection == 0), f => Assert.Equal(0L, f.Frame.Epoch));
        var b = Assert.Single(frames, f => f.Connection == 1);
        Assert.Equal(("b1", 1L), (b.Frame.GetText(), b.Frame.Epoch));
        Assert.All(frames, f => Assert.NotEqual(0L, f.Frame.ReceivedAt));                   // stamped by the connection, kept by the pool
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
        Assert.Equal(2, h.Leaf.Sockets.Count);
    }

    [Fact]
    [Trait("Invariant", "Pool.P8")]
    public void P8_all_members_failing_at_once_share_one_attempt_cap()
    {
        // 5 connections, cap 8 attempts per minute for the whole pool, backoff 100 ms: unshared, five
        // failing connections would make 5 x 8 = 40 attempts in the first minute.
        var h = new PoolHarness(cap: 1, max: 5, configure: o => o
            .WithBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100), useJitter: false)
            .WithAttemptRateLimit(8, TimeSpan.FromMinutes(1)));
        h.Add(PoolHarness.Keys(0, 5));
        Assert.Equal(5, h.Leaf.Attempts);                          // t = 0: five attempts, all up
        Assert.Equal(5, h.Pool.Current.Up);

        h.Leaf.DefaultOutcome = AttemptOutcome.Fail(Refused);
        foreach (var socket in h.Leaf.Sockets)
        {
            socket.Disconnect();                                   // every member down at once
        }

        h.Pump();
        for (var i = 0; i < 599; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));             // up to t = 59.9 s
        }

        Assert.Equal(8, h.Leaf.Attempts);                          // the pool's attempts together, not 8 each
        Assert.Equal(8, h.Pool.Connections.Sum(c => c.Lifecycle.Current.Attempts));
        Assert.Equal(0, h.Pool.Current.Up);

        h.Advance(TimeSpan.FromMilliseconds(100));                 // t = 60 s: the five attempts of t = 0 leave the window
        Assert.Equal(13, h.Leaf.Attempts);
    }

    [Fact]
    [Trait("Invariant", "Pool.P9")]
    public void P9_the_aggregated_lifecycle_says_how_many_are_up_which_are_down_and_since_when()
    {
        var h = new PoolHarness(cap: 2, max: 3);
        h.Add(PoolHarness.Keys(0, 6));
        Assert.Equal((3, 0), (h.Pool.Current.Up, h.Pool.Current.Down.Count()));
        Assert.Null(h.Pool.Current.DegradedSince);

        h.Advance(TimeSpan.FromSeconds(10));
        var cutAt = h.Clock.GetUtcNow();
        h.Leaf.Next.Fails(Refused);
        h.Leaf.Next.Fails(Refused);
        h.SocketWith("k002").Disconnect();
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(3));
        h.SocketWith("k004").Disconnect();                         // slot 2 goes down 3 s later
        h.Pump();

        var now = h.Pool.Current;
        Assert.Equal(1, now.Up);
        Assert.Equal([(1, cutAt), (2, cutAt + TimeSpan.FromSeconds(3))], now.Down.Select(c => (c.Index, c.DownSince!.Value)));
        Assert.Equal(cutAt, now.DegradedSince);
        Assert.False(now.AllSubscribed);
        Assert.Contains("1/3 up", now.ToString(), StringComparison.Ordinal);

        for (var i = 0; i < 10; i++)
        {
            h.Advance(TimeSpan.FromSeconds(1));
        }

        now = h.Pool.Current;
        Assert.Equal(3, now.Up);
        Assert.Empty(now.Down);
        Assert.True(now.AllSubscribed, now.ToString());
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
    [Trait("Invariant", "Pool.P1")]
    [InlineData(0, 1, 300, "PerConnectionCap")]
    [InlineData(1, 0, 300, "MaxConnections")]
    [InlineData(1, 6, 5, "MaxConnections")]
    public void Invalid_options_fail_at_construction_naming_the_field(int cap, int max, int attempts, string field)
    {
        var connector = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri("ws://venue.test/ws").WithAttemptRateLimit(attempts, TimeSpan.FromMinutes(5)))
            .UseLeaf(new ScriptedConnector())
            .Build();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new ConnectionPool(
            new ConnectionPoolOptions { PerConnectionCap = cap, MaxConnections = max },
            new TextProtocol(),
            connector));
        Assert.Equal(field, error.ParamName);
        Assert.Contains("ConnectionPoolOptions." + field, error.Message, StringComparison.Ordinal);
    }

    private sealed class Observer(Action<LifecycleSnapshot> onNext) : IObserver<LifecycleSnapshot>
    {
        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(LifecycleSnapshot value) => onNext(value);
    }

    /// <summary>The text grammar, recording for each subscribe call which connection asked and whether it was up then.</summary>
    private sealed class RecordingProtocol : ISubscriptionProtocol
    {
        private int _calls;

        public ConnectionPool? Pool { get; set; }

        public int ThrowOnCall { get; init; }

        public List<(string Connection, IReadOnlyList<string> Keys, bool WasUp)> Calls { get; } = [];

        public IReadOnlyList<Frame> Subscribe(IReadOnlyList<string> keys)
        {
            if (++_calls == ThrowOnCall)
            {
                throw new InvalidOperationException("grammar bug");
            }

            if (Pool is not null)
            {
                var owner = Pool.Connections.Single(c => c.Name == SlotOf(keys[0]));
                Calls.Add((owner.Name, [.. keys], owner.Lifecycle.Current.IsUp));
            }

            return [Frame.Text("sub:" + string.Join(',', keys))];
        }

        public IReadOnlyList<Frame> Unsubscribe(IReadOnlyList<string> keys) => [Frame.Text("unsub:" + string.Join(',', keys))];

        // The test's keys are k000.. with cap 25: slot = number / 25.
        private static string SlotOf(string key) => $"venue-{int.Parse(key[1..], System.Globalization.CultureInfo.InvariantCulture) / 25}";
    }
}
