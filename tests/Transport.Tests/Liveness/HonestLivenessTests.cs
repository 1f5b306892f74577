using Transport.Tests.Actor;

namespace Transport.Tests.Liveness;

/// <summary>Liveness from what the leaf can see, over the whole stack; and the snapshot levels it sets.</summary>
public sealed class HonestLivenessTests
{
    private static readonly LeafCapabilities CwsLike = LeafCapabilities.AnswersPingsItself | LeafCapabilities.KeepAliveProbe;

    [Fact]
    [Trait("Invariant", "Liveness.L4")]
    public void L4_pings_keep_the_transport_alive_but_not_fresh()
    {
        var h = ActorHarness.Start(o => o.WithIdleTimeouts(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5)));

        for (var i = 0; i < 20; i++)
        {
            h.Socket.DeliverPing();
            h.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(ConnectionPhase.Stale, h.Now.Phase); // no data for 20 s
        Assert.Equal(1, h.Connector.Attempts); // but never torn down: the server pinged every second
        Assert.Equal(20, h.Socket.PongsSent);

        h.Socket.DeliverText("data");
        h.Pump();
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
    }

    [Fact]
    [Trait("Invariant", "Liveness.L5")]
    public void L5_quiet_cws_like_leaf_is_stale_not_dead()
    {
        var h = ActorHarness.Start(
            o => o.WithIdleTimeouts(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5)),
            c => c.Next.Succeeds(new HandshakeResponse(101, null, [], HandshakeResponse.NoHeaders), CwsLike));

        h.Advance(TimeSpan.FromSeconds(60));

        Assert.Equal(ConnectionPhase.Stale, h.Now.Phase);
        Assert.Equal(1, h.Connector.Attempts);
        Assert.Equal(CwsLike, h.Connection.Session?.Capabilities);

        // The leaf's keep-alive timeout is its dead signal: it fails the receive.
        h.Socket.Fail(TransportException.Timeout("keep-alive pong missing"));
        h.Pump();
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
    }

    [Fact]
    [Trait("Invariant", "Liveness.L5")]
    public void L5_opt_in_data_silence_reconnects_even_while_pings_arrive()
    {
        var h = ActorHarness.Start(o => o.WithIdleTimeouts(TimeSpan.FromSeconds(2), null).WithReconnectOnDataSilence(TimeSpan.FromSeconds(10)));
        var first = h.Socket;
        first.DeliverText("data");
        h.Pump();

        for (var i = 0; i < 9; i++)
        {
            h.Advance(TimeSpan.FromSeconds(1));
            first.DeliverPing();
            h.Pump();
        }

        Assert.Equal(ConnectionPhase.Stale, h.Now.Phase);
        h.Advance(TimeSpan.FromSeconds(1));

        Assert.NotSame(first, h.Socket);
        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        Assert.Equal(1, h.Now.Epoch);
    }

    [Fact]
    [Trait("Invariant", "Liveness.L6")]
    public void L6_down_since_is_the_last_sign_of_life()
    {
        var h = ActorHarness.Start(
            o => o.WithIdleTimeouts(null, TimeSpan.FromSeconds(5)),
            c => c.Next.Succeeds());
        var start = h.Clock.GetUtcNow();
        h.Advance(TimeSpan.FromSeconds(1));
        h.Socket.DeliverPong(); // the last sign of life, at start + 1 s
        h.Pump();
        var lastSign = h.Clock.GetUtcNow();
        Assert.Equal(start + TimeSpan.FromSeconds(1), lastSign);

        // No frame of any kind for DeadAfter: the transport is dead; the next socket is scripted to hang
        // so the snapshot stays down for inspection.
        h.Connector.Next.Hangs();
        h.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
        Assert.Equal(lastSign, h.Now.DownSince);
        Assert.Null(h.Now.UpSince);
    }

    [Fact]
    public void Snapshot_levels_survive_coalescing_the_last_outage_and_the_up_time()
    {
        var h = ActorHarness.Start(script: c =>
        {
            c.Next.Succeeds();
            c.Next.Fails(TransportException.Connection("refused"));
            c.Next.Succeeds();
        });
        Assert.Equal(h.Clock.GetUtcNow(), h.Now.UpSince);
        Assert.Null(h.Now.LastOutage); // the first connection is no outage

        h.Advance(TimeSpan.FromSeconds(10));
        h.Socket.Disconnect();
        h.Pump(); // down at t=10 s; the immediate retry fails, the next waits the 1 s backoff
        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
        h.AdvanceUntil(() => h.Now.IsUp, TimeSpan.FromMilliseconds(100));

        // A consumer that only looks now, long after, still learns that an outage happened and how long it was.
        h.Advance(TimeSpan.FromMinutes(5));
        var now = h.Now;
        Assert.Equal(ConnectionPhase.Resumed, now.Phase);
        Assert.Equal(1, now.Epoch);
        Assert.NotNull(now.LastOutage);
        Assert.True(now.LastOutage >= TimeSpan.FromSeconds(1) && now.LastOutage < TimeSpan.FromSeconds(2), $"outage {now.LastOutage}");
        Assert.Equal(now.UpSince, h.Connection.Session?.ConnectedAt);
        Assert.Contains("lastOutage=", now.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Invariant", "Session.S6")]
    public void S6_frame_read_after_reconnect_reports_the_epoch_it_arrived_on()
    {
        var h = ActorHarness.Start();
        var receivedAt = h.Clock.GetTimestamp();
        h.Socket.DeliverText("old-1");
        h.Socket.DeliverText("old-2");
        h.Pump();

        // The consumer has read nothing yet when the socket drops and the new one delivers.
        h.Socket.Disconnect();
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1));
        h.Socket.DeliverText("new-1");
        h.Pump();

        var frames = h.Drain();
        Assert.Equal(["old-1", "old-2", "new-1"], frames.Select(f => f.GetText()));
        Assert.Equal([0L, 0L, 1L], frames.Select(f => f.Epoch));
        Assert.Equal(receivedAt, frames[0].ReceivedAt);
        Assert.Equal(h.Clock.GetTimestamp(), frames[2].ReceivedAt);
        Assert.Equal(1, h.Now.Epoch);
    }
}
