using Transport.Mock;

namespace Transport.Tests.Actor;

/// <summary>The send axis: the stable sink, lanes, bounds, gap delivery, epoch pinning, pacing.</summary>
public sealed class SendPathTests
{
    // A 1 s rule plus the default safety margin (SendRateLimit.DefaultSafetyMargin): the spacing between a frame and the N-th after it.
    private static readonly TimeSpan Spacing = TimeSpan.FromSeconds(1) + SendRateLimit.DefaultSafetyMargin(TimeSpan.FromSeconds(1));

    [Fact]
    public void SendAsync_completes_when_the_frame_reaches_the_socket()
    {
        var h = ActorHarness.Start();

        var send = h.Connection.Sink.SendAsync(Frame.Text("subscribe"));
        h.Pump();

        Assert.True(send.IsCompletedSuccessfully);
        Assert.Equal(["subscribe"], h.Socket.SentTexts);
    }

    [Fact]
    public void S1_control_lane_before_data()
    {
        var h = ActorHarness.Start(script: c => c.Next.Hangs()); // queue while the first handshake hangs
        var sink = h.Connection.Sink;
        Assert.Equal(SendStatus.Accepted, sink.TrySend(Frame.Text("d1")));
        Assert.Equal(SendStatus.Accepted, sink.TrySend(Frame.Text("d2")));
        Assert.Equal(SendStatus.Accepted, sink.TrySend(Frame.Text("c1"), SendOptions.Urgent));

        h.Advance(TimeSpan.FromSeconds(5)); // timeout
        h.Advance(TimeSpan.FromSeconds(1)); // backoff, then connect

        Assert.Equal(["c1", "d1", "d2"], h.Socket.SentTexts);
    }

    [Fact]
    public void Sends_queued_during_a_gap_go_out_on_the_next_connection()
    {
        var h = ActorHarness.Start(script: c =>
        {
            c.Next.Succeeds();
            c.Next.Fails(TransportException.Connection("refused"));
        });
        var first = h.Socket;
        first.Disconnect();
        h.Pump();
        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);

        var send = h.Connection.Sink.SendAsync(Frame.Text("resubscribe"));
        h.Pump();
        Assert.False(send.IsCompleted);

        h.Advance(TimeSpan.FromSeconds(1));
        Assert.True(send.IsCompletedSuccessfully);
        Assert.Empty(first.SentTexts);
        Assert.Equal(["resubscribe"], h.Socket.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Actor.A5")]
    public async Task S2_pinned_send_rejected_after_reconnect_unpinned_delivered_once()
    {
        var h = ActorHarness.Start();
        var old = h.Socket;
        old.SendBehavior = SendBehavior.Hang; // the old socket swallows writes: frames stay queued

        var inFlight = h.Connection.Sink.SendAsync(Frame.Text("in-flight"));
        h.Pump();
        var pinned = h.Connection.Sink.SendAsync(Frame.Text("unsubscribe"), SendOptions.PinnedTo(0));
        var unpinned = h.Connection.Sink.SendAsync(Frame.Text("order"));
        h.Pump();

        old.Disconnect();
        h.Pump();

        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        var error = await Assert.ThrowsAsync<TransportException>(async () => await pinned);
        Assert.Equal(TransportErrorKind.StaleEpoch, error.Kind);
        Assert.True(inFlight.IsCompletedSuccessfully);
        Assert.True(unpinned.IsCompletedSuccessfully);
        Assert.Equal(["in-flight", "order"], h.Socket.SentTexts);

        // After the fact, a send pinned to the dead epoch is refused at once.
        Assert.Equal(SendStatus.StaleEpoch, h.Connection.Sink.TrySend(Frame.Text("late"), SendOptions.PinnedTo(0)));
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("now"), SendOptions.PinnedTo(1)));
        h.Pump();
        Assert.Equal(["in-flight", "order", "now"], h.Socket.SentTexts);
    }

    [Fact]
    public void TrySend_refuses_when_full_and_says_why()
    {
        var h = ActorHarness.Start(o => o.WithSendQueue(2, 1024), c => c.Next.Hangs());
        var sink = h.Connection.Sink;

        Assert.Equal(SendStatus.Accepted, sink.TrySend(Frame.Text("a")));
        Assert.Equal(SendStatus.Accepted, sink.TrySend(Frame.Text("b")));
        Assert.Equal(SendStatus.Full, sink.TrySend(Frame.Text("c")));
        Assert.Equal(SendStatus.Invalid, sink.TrySend(Frame.Binary(new byte[2048])));
        Assert.Equal(SendStatus.Invalid, sink.TrySend(Frame.Ping()));
        Assert.Equal(2, sink.QueuedFrames);
        Assert.Equal(2, sink.QueuedBytes);
    }

    [Fact]
    public void Byte_bound_refuses_and_SendAsync_waits_for_room()
    {
        var h = ActorHarness.Start(o => o.WithSendQueue(100, 10), c => c.Next.Hangs());
        var sink = h.Connection.Sink;
        Assert.Equal(SendStatus.Accepted, sink.TrySend(Frame.Binary(new byte[8])));
        Assert.Equal(SendStatus.Full, sink.TrySend(Frame.Binary(new byte[3])));

        var waiting = h.Adapter(async () => await sink.SendAsync(Frame.Binary(new byte[3]))); // the adapter awaits on the pumped scheduler
        Assert.False(waiting.IsCompleted);

        h.Advance(TimeSpan.FromSeconds(5)); // hung attempt times out
        h.Advance(TimeSpan.FromSeconds(1)); // connects; the queue drains; the waiter gets room and is sent

        Assert.True(waiting.IsCompletedSuccessfully);
        Assert.Equal(2, h.Socket.Sent.Count);
    }

    [Fact]
    public async Task SendAsync_waiting_for_room_fails_with_Shutdown_when_the_connection_shuts_down()
    {
        var h = ActorHarness.Start(o => o.WithSendQueue(1, 1024), c => c.Next.Hangs());
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("fills the queue")));
        var waiting = h.Adapter(async () => await h.Connection.Sink.SendAsync(Frame.Text("waits for room")));
        Assert.False(waiting.IsCompleted);

        await h.ShutdownAsync();
        h.Pump();

        var error = await Assert.ThrowsAsync<TransportException>(() => waiting);
        Assert.Equal(TransportErrorKind.Shutdown, error.Kind);
        Assert.Equal(1, h.Connection.Sink.FailedAfterAccept); // the TrySend frame, counted, not silently lost
    }

    [Fact]
    public void Cancelled_SendAsync_is_withdrawn_from_the_queue()
    {
        var h = ActorHarness.Start(script: c => c.Next.Hangs());
        using var cts = new CancellationTokenSource();
        var send = h.Connection.Sink.SendAsync(Frame.Text("never"), cts.Token);
        Assert.Equal(1, h.Connection.Sink.QueuedFrames);

        cts.Cancel();
        h.Pump();

        Assert.True(send.IsCanceled);
        Assert.Equal(0, h.Connection.Sink.QueuedFrames);
        h.Advance(TimeSpan.FromSeconds(5)); // the hung attempt times out
        h.Advance(TimeSpan.FromSeconds(1)); // connects
        Assert.Empty(h.Socket.Sent);
    }

    [Fact]
    public async Task Sends_fail_with_Shutdown_after_shutdown_and_TrySend_failures_are_counted()
    {
        var h = ActorHarness.Start(script: c => c.Next.Hangs());
        var tracked = h.Connection.Sink.SendAsync(Frame.Text("tracked"));
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("untracked")));

        var shutdown = h.ShutdownAsync();

        Assert.True(shutdown.IsCompletedSuccessfully);
        var error = await Assert.ThrowsAsync<TransportException>(async () => await tracked);
        Assert.Equal(TransportErrorKind.Shutdown, error.Kind);
        Assert.Equal(1, h.Connection.Sink.FailedAfterAccept);
        Assert.Equal(SendStatus.Closed, h.Connection.Sink.TrySend(Frame.Text("after")));
    }

    [Fact]
    [Trait("Invariant", "Pacer.P1")]
    public void P1_hundred_queued_sends_leave_at_the_configured_rate()
    {
        var h = ActorHarness.Start(o => o.WithSendRateLimit(5, TimeSpan.FromSeconds(1)), c => c.Next.Hangs());
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text($"sub-{i}")));
        }

        h.Advance(TimeSpan.FromSeconds(5)); // the hung attempt times out
        h.Advance(TimeSpan.FromSeconds(1)); // connects
        Assert.Equal(5, h.Socket.Sent.Count); // a full window at once

        // Then 5 more each window plus the built-in 200 ms margin (Pacer.P4), exactly on time.
        for (var window = 1; window <= 19; window++)
        {
            h.Advance(Spacing - TimeSpan.FromTicks(1));
            Assert.Equal(5 * window, h.Socket.Sent.Count);
            h.Advance(TimeSpan.FromTicks(1));
            Assert.Equal(5 * (window + 1), h.Socket.Sent.Count);
        }

        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"sub-{i}"), h.Socket.SentTexts);
    }

    [Fact]
    public void P2_pongs_count_by_default_and_go_first()
    {
        var h = ActorHarness.Start(o => o.WithSendRateLimit(1, TimeSpan.FromSeconds(1)));
        h.Connection.Sink.TrySend(Frame.Text("a"));
        h.Connection.Sink.TrySend(Frame.Text("b"));
        h.Pump();
        Assert.Equal(["a"], h.Socket.SentTexts);

        h.Socket.DeliverPing([1, 2]);
        h.Pump();
        h.Advance(Spacing);

        Assert.Equal(FrameKind.Pong, h.Socket.Sent[1].Kind);
        Assert.Equal(new byte[] { 1, 2 }, h.Socket.Sent[1].Payload.ToArray());
        h.Advance(Spacing);
        Assert.Equal(["a", "b"], h.Socket.SentTexts);
    }

    [Fact]
    public void P2_uncounted_pongs_never_wait_for_the_window()
    {
        var h = ActorHarness.Start(o => o.WithSendRateLimit(1, TimeSpan.FromSeconds(1), countPongs: false));
        h.Connection.Sink.TrySend(Frame.Text("a"));
        h.Connection.Sink.TrySend(Frame.Text("b"));
        h.Pump();
        Assert.Equal(["a"], h.Socket.SentTexts);

        h.Socket.DeliverPing([9]);
        h.Pump();

        // The window is full, yet the pong leaves at once, and does not use up "b"'s turn.
        Assert.Equal(FrameKind.Pong, h.Socket.Sent[1].Kind);
        h.Advance(Spacing - TimeSpan.FromTicks(1));
        Assert.Equal(["a"], h.Socket.SentTexts);
        h.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(["a", "b"], h.Socket.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Pacer.P1")]
    public void Item9_resubscribe_burst_of_30_never_exceeds_5_in_any_sliding_second()
    {
        var h = ActorHarness.Start(o => o.WithSendRateLimit(5, TimeSpan.FromSeconds(1)));
        var start = h.Clock.GetUtcNow();
        var sentAt = new List<TimeSpan>();
        void Record()
        {
            while (sentAt.Count < h.Socket.Sent.Count)
            {
                sentAt.Add(h.Clock.GetUtcNow() - start);
            }
        }

        // One frame early in the second, then the reconnect-style burst 830 ms later: the shape
        // that let a token bucket send 10 frames in ~830 ms.
        h.Connection.Sink.TrySend(Frame.Text("heartbeat"));
        h.Pump();
        Record();
        h.Advance(TimeSpan.FromMilliseconds(830));
        for (var i = 0; i < 30; i++)
        {
            Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text($"sub-{i}")));
        }

        h.Pump();
        Record();
        for (var step = 0; step < 10_000 && h.Socket.Sent.Count < 31; step++)
        {
            h.Advance(TimeSpan.FromMilliseconds(1));
            Record();
        }

        Assert.Equal(31, sentAt.Count);
        for (var i = 0; i < sentAt.Count; i++)
        {
            var inWindow = sentAt.Count(t => t >= sentAt[i] && t < sentAt[i] + TimeSpan.FromSeconds(1));
            Assert.True(inWindow <= 5, $"{inWindow} frames in the second starting at {sentAt[i]}.");
        }

        // And no slower than the rule with its margin: 31 frames at 5 per 1.2 s take 6 whole spacings.
        Assert.Equal(6 * Spacing, sentAt[^1]);
    }
}
