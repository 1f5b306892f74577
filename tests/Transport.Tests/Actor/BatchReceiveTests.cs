using Transport.WebSockets;

namespace Transport.Tests.Actor;

/// <summary>
/// Session.S6: the receive loop awaits one frame, drains what the leaf already holds
/// (TryReceive) and hands the batch's data to the ring in one write.
/// </summary>
public sealed class BatchReceiveTests
{
    [Fact]
    [Trait("Invariant", "Session.S6")]
    public void S6_a_batch_reaches_the_source_in_order_with_its_ping_answered()
    {
        var leaf = new BatchingLeaf();
        var h = ActorHarness.Start(builder: b => b.UseLeaf(leaf));
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);

        leaf.Current.Deliver(Frame.Text("a"), Frame.Ping(new byte[] { 7 }), Frame.Text("b"), Frame.Pong(), Frame.Binary(new byte[] { 1, 2 }));
        h.Pump();

        Assert.Equal(1, leaf.Current.ReceiveCalls - 1); // one awaited receive took the whole batch (the loop waits on the next)
        Assert.Equal(4, leaf.Current.TryReceiveHits);
        Assert.Equal(["Text", "Text", "Binary"], h.Drain().Select(f => f.Kind.ToString()));
        Assert.Equal([FrameKind.Pong], leaf.Current.Sent.Select(f => f.Kind));
        Assert.Equal([7], leaf.Current.Sent[0].Payload.ToArray());
    }

    [Fact]
    [Trait("Invariant", "Session.S6")]
    public void S6_frames_the_leaf_did_not_stamp_carry_their_batchs_time_and_stamped_frames_keep_theirs()
    {
        var leaf = new BatchingLeaf();
        var h = ActorHarness.Start(builder: b => b.UseLeaf(leaf));
        h.Clock.Advance(TimeSpan.FromSeconds(2));
        long leafStamp = h.Clock.GetTimestamp() - 1_000;

        leaf.Current.Deliver(Frame.Text("a"), Frame.Text("b").WithReceivedAt(leafStamp), Frame.Text("c"));
        h.Pump();
        long firstBatch = h.Clock.GetTimestamp();
        var first = h.Drain();
        h.Clock.Advance(TimeSpan.FromMilliseconds(3));
        leaf.Current.Deliver(Frame.Text("d"));
        h.Pump();
        var second = h.Drain();

        Assert.Equal([firstBatch, leafStamp, firstBatch], first.Select(f => f.ReceivedAt));
        Assert.Equal(h.Clock.GetTimestamp(), second.Single().ReceivedAt);
    }

    [Fact]
    [Trait("Invariant", "Session.S6")]
    public void S6_batches_are_capped_so_the_first_frame_is_not_held_back_for_long()
    {
        var leaf = new BatchingLeaf();
        var h = ActorHarness.Start(builder: b => b.UseLeaf(leaf));
        var frames = Enumerable.Range(0, 100).Select(i => Frame.Text($"m{i}")).ToArray();

        leaf.Current.Deliver(frames);
        h.Pump();

        // 100 frames: one batch of 64 (1 receive + 63 TryReceive), then 36 (1 + 35).
        Assert.Equal(2, leaf.Current.ReceiveCalls - 1);
        Assert.Equal(98, leaf.Current.TryReceiveHits);
        Assert.Equal(frames.Select(f => f.GetText()), h.Drain().Select(f => f.GetText()));
    }

    [Fact]
    [Trait("Invariant", "Session.S6")]
    public void S6_a_close_in_a_batch_ends_the_session_after_the_data_before_it()
    {
        var leaf = new BatchingLeaf();
        var h = ActorHarness.Start(builder: b => b.UseLeaf(leaf));
        var first = leaf.Current;

        first.Deliver(Frame.Text("before-1"), Frame.Text("before-2"), Frame.Close(CloseCodes.GoingAway, "restart"), Frame.Text("after"));
        h.Pump();

        Assert.Equal(["before-1", "before-2"], h.Drain().Select(f => f.GetText()));
        Assert.NotEqual(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(1, first.Undelivered); // nothing is read past the close
    }

    [Fact]
    [Trait("Invariant", "Session.S6")]
    public void S6_under_pressure_the_batch_evicts_oldest_and_counts_every_frame()
    {
        var leaf = new BatchingLeaf();
        var h = ActorHarness.Start(o => o.WithReceiveRing(4, 1_000_000), builder: b => b.UseLeaf(leaf));

        leaf.Current.Deliver(Enumerable.Range(0, 10).Select(i => Frame.Text($"m{i}")).ToArray());
        h.Pump();

        Assert.Equal(6, h.Now.TotalLagged);
        Assert.Equal(["m6", "m7", "m8", "m9"], h.Drain().Select(f => f.GetText()));
    }

    /// <summary>A leaf whose receiver holds already-parsed frames, as a batch-parsing leaf does.</summary>
    private sealed class BatchingLeaf : ILeafConnector
    {
        public BatchingConnection Current { get; private set; } = null!;

        public ValueTask<ILeafConnection> ConnectAsync(HandshakeRequest handshake, CancellationToken cancellationToken)
        {
            Current = new BatchingConnection();
            return new ValueTask<ILeafConnection>(Current);
        }
    }

    private sealed class BatchingConnection : ILeafConnection, ILeafSender, ILeafReceiver
    {
        private readonly Queue<Frame> _parsed = new();
        private TaskCompletionSource<Frame>? _waiting;

        public ILeafSender Sender => this;

        public ILeafReceiver Receiver => this;

        public string? SubProtocol => null;

        public List<Frame> Sent { get; } = [];

        public int ReceiveCalls { get; private set; }

        public int TryReceiveHits { get; private set; }

        public int Undelivered => _parsed.Count;

        /// <summary>One read's worth of frames: the first completes a pending receive, the rest wait for TryReceive.</summary>
        public void Deliver(params Frame[] frames)
        {
            foreach (var frame in frames)
            {
                _parsed.Enqueue(frame);
            }

            if (_waiting is { } waiting && _parsed.TryDequeue(out var first))
            {
                _waiting = null;
                waiting.SetResult(first);
            }
        }

        public ValueTask<Frame> ReceiveAsync(CancellationToken cancellationToken)
        {
            ReceiveCalls++;
            if (_parsed.TryDequeue(out var frame))
            {
                return new ValueTask<Frame>(frame);
            }

            var waiting = new TaskCompletionSource<Frame>(TaskCreationOptions.RunContinuationsAsynchronously);
            cancellationToken.Register(() => waiting.TrySetCanceled(cancellationToken));
            _waiting = waiting;
            return new ValueTask<Frame>(waiting.Task);
        }

        public bool TryReceive(out Frame frame)
        {
            if (_parsed.TryDequeue(out frame))
            {
                TryReceiveHits++;
                return true;
            }

            return false;
        }

        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken)
        {
            Sent.Add(frame);
            return ValueTask.CompletedTask;
        }

        public ValueTask CloseAsync(int code, string? reason, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
