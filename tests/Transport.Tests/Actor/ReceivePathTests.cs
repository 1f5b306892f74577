namespace Transport.Tests.Actor;

/// <summary>The receive axis through the actor: drain always, drop oldest with a signal, liveness.</summary>
public sealed class ReceivePathTests
{
    [Fact]
    public void Data_frames_reach_the_source_in_order_and_control_frames_do_not()
    {
        var h = ActorHarness.Start();
        h.Socket.DeliverText("one");
        h.Socket.DeliverPing();
        h.Socket.DeliverPong();
        h.Socket.DeliverBinary([1, 2, 3]);
        h.Pump();

        var frames = h.Drain();

        Assert.Equal([FrameKind.Text, FrameKind.Binary], frames.Select(f => f.Kind));
        Assert.Equal("one", frames[0].GetText());
        Assert.Equal(1, h.Socket.PongsSent);
    }

    [Fact]
    public void B3_pong_sent_while_ring_is_full_and_consumer_stalled()
    {
        var h = ActorHarness.Start(o => o.WithReceiveRing(4, 1024));
        for (var i = 0; i < 10; i++)
        {
            h.Socket.DeliverText($"m{i}");
        }

        h.Socket.DeliverPing([9]);
        h.Socket.DeliverText("m10");
        h.Pump();

        // Nobody read the source, yet the socket was drained and the ping answered.
        Assert.Equal(0, h.Socket.PendingDeliveries);
        Assert.Equal(1, h.Socket.PongsSent);
        Assert.Equal(7, h.Now.TotalLagged);
        Assert.Equal(["m7", "m8", "m9", "m10"], h.Drain().Select(f => f.GetText()));
    }

    [Fact]
    public void B1_eviction_under_count_pressure_drops_oldest_and_counts_exactly()
    {
        var h = ActorHarness.Start(o => o.WithReceiveRing(3, 1_000_000));
        for (var i = 0; i < 8; i++)
        {
            h.Socket.DeliverText($"m{i}");
        }

        h.Pump();

        Assert.Equal(5, h.Now.TotalLagged);
        Assert.Equal(["m5", "m6", "m7"], h.Drain().Select(f => f.GetText()));
    }

    [Fact]
    public void B2_eviction_under_byte_pressure_drops_oldest_and_counts_exactly()
    {
        var h = ActorHarness.Start(o => o.WithReceiveRing(1000, 100));
        for (var i = 0; i < 5; i++)
        {
            h.Socket.DeliverBinary(new byte[40]); // 3 x 40 > 100: only two fit
        }

        h.Pump();

        Assert.Equal(3, h.Now.TotalLagged);
        Assert.Equal(80, h.Connection.Source.BufferedBytes);
        Assert.Equal(2, h.Drain().Count);
    }

    [Fact]
    public void B4_a_frame_bigger_than_the_byte_budget_is_still_admitted()
    {
        var h = ActorHarness.Start(o => o.WithReceiveRing(1000, 100));
        h.Socket.DeliverBinary(new byte[30]);
        h.Socket.DeliverBinary(new byte[30]);
        h.Socket.DeliverBinary(new byte[500]);
        h.Pump();

        Assert.Equal(2, h.Now.TotalLagged);
        var frames = h.Drain();
        Assert.Equal(500, Assert.Single(frames).Length);
    }

    [Fact]
    public void B5_conservation_read_equals_delivered_plus_lagged_plus_buffered()
    {
        var h = ActorHarness.Start(o => o.WithReceiveRing(50, 10_000));
        var random = new Random(1234);
        var read = 0;
        var delivered = 0;
        for (var round = 0; round < 200; round++)
        {
            var burst = random.Next(0, 40);
            for (var i = 0; i < burst; i++)
            {
                h.Socket.DeliverBinary(new byte[random.Next(0, 400)]);
            }

            read += burst;
            h.Pump();
            var take = random.Next(0, 30);
            for (var i = 0; i < take && h.Connection.Source.TryRead(out _); i++)
            {
                delivered++;
            }

            if (round % 50 == 49)
            {
                h.Socket.Disconnect(); // conservation holds across epochs
                h.Pump();
            }
        }

        h.ShutdownAsync();
        var buffered = h.Connection.Source.Count;
        Assert.Equal(read, delivered + h.Now.TotalLagged + buffered);
        Assert.True(h.Now.TotalLagged > 0, "The test should exercise eviction.");
    }

    [Fact]
    public void V1_stale_after_silence_then_back_without_an_epoch_bump()
    {
        var h = ActorHarness.Start(o => o.WithIdleTimeouts(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30)));

        h.Advance(TimeSpan.FromSeconds(5) - TimeSpan.FromTicks(1));
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        h.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(ConnectionPhase.Stale, h.Now.Phase);
        Assert.False(h.Socket.IsDisposed); // a signal: the socket stays

        h.Socket.DeliverText("tick");
        h.Pump();
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(0, h.Now.Epoch);

        // The next silence is caught a full StaleAfter after the last frame.
        h.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(ConnectionPhase.Stale, h.Now.Phase);
        Assert.Equal(1, h.Connector.Attempts);
    }

    [Fact]
    public void V2_reconnect_after_dead_after_without_frames()
    {
        var h = ActorHarness.Start(o => o.WithIdleTimeouts(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30)));
        var first = h.Socket;

        h.Advance(TimeSpan.FromSeconds(29));
        first.DeliverText("keeps it alive");
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(1, h.Connector.Attempts);

        h.Advance(TimeSpan.FromSeconds(1));
        Assert.True(first.IsDisposed);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(1, h.Now.Epoch);
        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
    }

    [Fact]
    public void V3_peer_close_becomes_a_transition_with_its_code()
    {
        var h = ActorHarness.Start(script: c =>
        {
            c.Next.Succeeds();
            c.Next.Hangs();
        });

        h.Socket.DeliverClose(CloseCodes.GoingAway, "lifetime");
        h.Pump();

        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
        Assert.Equal(TransportErrorKind.ClosedByPeer, h.Now.LastError?.Kind);
        Assert.Equal(CloseCodes.GoingAway, h.Now.LastError?.CloseCode);
    }
}
