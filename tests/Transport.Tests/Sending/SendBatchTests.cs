using Transport.Mock;
using Transport.Tests.Actor;

namespace Transport.Tests.Sending;

/// <summary>SendBatchAsync over the full stack on Transport.Mock: contiguous, all or a clear failure, exact counts.</summary>
public sealed class SendBatchTests
{
    // A 1 s rule plus the default safety margin (SendRateLimit.DefaultSafetyMargin, Pacer.P4).
    private static readonly TimeSpan Spacing = TimeSpan.FromSeconds(1.2);

    private static Frame[] Texts(params string[] texts) => [.. texts.Select(t => Frame.Text(t))];

    [Fact]
    [Trait("Invariant", "Batch.B1")]
    public void B1_a_batch_goes_out_contiguously_even_when_control_frames_and_pongs_arrive_in_the_middle()
    {
        var h = ActorHarness.Start(o => o.WithSendRateLimit(1, TimeSpan.FromSeconds(1)));
        var batch = h.Connection.Sink.SendBatchAsync(Texts("cancel", "replace", "confirm"));
        h.Pump();
        Assert.Equal(["cancel"], h.Socket.SentTexts);

        // Urgent frames and a ping's pong arrive while the batch waits for its next token.
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("urgent"), SendOptions.Urgent));
        h.Socket.DeliverPing([9]);
        h.Pump();

        h.Advance(Spacing);
        h.Advance(Spacing);
        Assert.True(batch.IsCompletedSuccessfully);
        Assert.Equal(["cancel", "replace", "confirm"], h.Socket.Sent.Take(3).Select(f => f.GetText()));

        h.Advance(Spacing);
        h.Advance(Spacing);
        Assert.Equal(FrameKind.Pong, h.Socket.Sent[3].Kind);          // then the pong, then the control lane
        Assert.Equal("urgent", h.Socket.Sent[4].GetText());
    }

    [Fact]
    [Trait("Invariant", "Batch.B1")]
    public void B1_unpaced_batch_is_written_back_to_back_before_later_sends()
    {
        var h = ActorHarness.Start(script: c => c.Next.Hangs());
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("before")));
        var batch = h.Connection.Sink.SendBatchAsync(Texts("login-1", "login-2"));
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("after")));
        Assert.Equal(4, h.Connection.Sink.QueuedFrames);           // a batch takes one slot per frame

        h.Advance(TimeSpan.FromSeconds(5));
        h.Advance(TimeSpan.FromSeconds(1));

        Assert.True(batch.IsCompletedSuccessfully);
        Assert.Equal(["before", "login-1", "login-2", "after"], h.Socket.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Batch.B2")]
    public async Task B2_invalid_batches_fail_at_the_call_with_nothing_queued()
    {
        var h = ActorHarness.Start(o => o.WithSendQueue(3, 100), c => c.Next.Hangs());
        var sink = h.Connection.Sink;

        Assert.Throws<ArgumentException>(() => { _ = sink.SendBatchAsync([]); });
        Assert.Throws<ArgumentException>(() => { _ = sink.SendBatchAsync([Frame.Text("a"), Frame.Ping()]); });
        Assert.Contains("CapacityFrames", Assert.Throws<ArgumentException>(() => { _ = sink.SendBatchAsync(Texts("1", "2", "3", "4")); }).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => { _ = sink.SendBatchAsync([Frame.Binary(new byte[60]), Frame.Binary(new byte[60])]); });
        Assert.Equal(0, sink.QueuedFrames);

        using var cts = new CancellationTokenSource();
        var cancelled = sink.SendBatchAsync(Texts("x", "y"), cancellationToken: cts.Token);
        Assert.Equal(2, sink.QueuedFrames);
        cts.Cancel();
        h.Pump();
        Assert.True(cancelled.IsCanceled);
        Assert.Equal(0, sink.QueuedFrames);

        await h.ShutdownAsync();
        var closed = await Assert.ThrowsAsync<TransportException>(async () => await sink.SendBatchAsync(Texts("late")));
        Assert.Equal(TransportErrorKind.Shutdown, closed.Kind);
    }

    [Fact]
    [Trait("Invariant", "Batch.B2")]
    public void B2_a_socket_that_fails_before_the_first_write_leaves_the_batch_whole_for_the_next_connection()
    {
        var h = ActorHarness.Start();
        var first = h.Socket;
        first.SendBehavior = SendBehavior.Hang;
        var batch = h.Connection.Sink.SendBatchAsync(Texts("a", "b", "c"));
        h.Pump();

        first.Disconnect();
        h.Pump();

        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.NotSame(first, h.Socket);
        Assert.True(batch.IsCompletedSuccessfully);
        Assert.Equal(["a", "b", "c"], h.Socket.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Batch.B2")]
    public async Task B2_a_pinned_batch_whose_epoch_ends_before_its_first_write_fails_stale_with_nothing_written()
    {
        var h = ActorHarness.Start();
        var first = h.Socket;
        first.SendBehavior = SendBehavior.Hang;
        var blocker = h.Connection.Sink.SendAsync(Frame.Text("blocker"));
        h.Pump();
        var pinned = h.Connection.Sink.SendBatchAsync(Texts("unsub-1", "unsub-2"), SendOptions.PinnedTo(0));
        h.Pump();

        first.Disconnect();
        h.Pump();

        var error = await Assert.ThrowsAsync<TransportException>(async () => await pinned);
        Assert.Equal(TransportErrorKind.StaleEpoch, error.Kind);
        Assert.True(blocker.IsCompletedSuccessfully);
        Assert.Equal(["blocker"], h.Socket.SentTexts);

        var current = h.Connection.Sink.SendBatchAsync(Texts("sub-1", "sub-2"), SendOptions.PinnedTo(h.Now.Epoch));
        h.Pump();
        Assert.True(current.IsCompletedSuccessfully);
        Assert.Equal(["blocker", "sub-1", "sub-2"], h.Socket.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Batch.B3")]
    public async Task B3_a_socket_that_dies_mid_batch_reports_exactly_how_many_frames_were_written()
    {
        var h = ActorHarness.Start(o => o.WithSendRateLimit(1, TimeSpan.FromSeconds(1)));
        var first = h.Socket;
        var batch = h.Connection.Sink.SendBatchAsync(Texts("m1", "m2", "m3", "m4"));
        h.Pump();
        h.Advance(Spacing);
        Assert.Equal(["m1", "m2"], first.SentTexts);

        first.SendBehavior = SendBehavior.Fail;                   // the third write fails: the socket is dead
        h.Advance(Spacing);

        var error = await Assert.ThrowsAsync<SendBatchException>(async () => await batch);
        Assert.Equal(2, error.FramesWritten);
        Assert.Equal(4, error.BatchSize);
        Assert.IsType<TransportException>(error.InnerException);

        h.AdvanceUntil(() => h.Now.Phase == ConnectionPhase.Resumed, TimeSpan.FromSeconds(1));
        h.Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(h.Socket.SentTexts);                          // the rest is sent nowhere
    }

    [Fact]
    [Trait("Invariant", "Batch.B3")]
    public async Task B3_a_session_ending_while_a_paced_batch_waits_between_frames_fails_it_with_the_count()
    {
        var h = ActorHarness.Start(o => o.WithSendRateLimit(1, TimeSpan.FromSeconds(1)));
        var first = h.Socket;
        var batch = h.Connection.Sink.SendBatchAsync(Texts("m1", "m2", "m3"));
        h.Pump();
        Assert.Equal(["m1"], first.SentTexts);

        first.Disconnect();
        h.Pump();

        var error = await Assert.ThrowsAsync<SendBatchException>(async () => await batch);
        Assert.Equal(1, error.FramesWritten);
    }

    [Fact]
    [Trait("Invariant", "Batch.B4")]
    public void B4_every_frame_of_a_batch_takes_a_token_so_the_rate_rule_holds_across_it()
    {
        var h = ActorHarness.Start(o => o.WithSendRateLimit(5, TimeSpan.FromSeconds(1)), c => c.Next.Hangs());
        var batch = h.Connection.Sink.SendBatchAsync([.. Enumerable.Range(0, 12).Select(i => Frame.Text($"b{i}"))]);
        h.Advance(TimeSpan.FromSeconds(5));
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(5, h.Socket.Sent.Count);

        h.Advance(Spacing - TimeSpan.FromTicks(1));
        Assert.Equal(5, h.Socket.Sent.Count);
        h.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(10, h.Socket.Sent.Count);
        h.Advance(Spacing);
        Assert.True(batch.IsCompletedSuccessfully);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => $"b{i}"), h.Socket.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Batch.B1")]
    public void B1_the_session_initializers_pinned_sink_writes_a_batch_on_the_new_socket_before_queued_data()
    {
        var h = ActorHarness.Start(
            script: c => c.Next.Hangs(),
            builder: b => b.WithSessionInitializer(async (ctx, ct) => await ctx.Sink.SendBatchAsync(Texts($"login-{ctx.Epoch}", "subscribe"), default, ct)));
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("order")));

        h.Advance(TimeSpan.FromSeconds(5));
        h.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(["login-0", "subscribe", "order"], h.Socket.SentTexts);
        Assert.True(h.Now.IsUp);
    }
}
