using System.Globalization;
using CsCheck;
using Microsoft.Extensions.Logging;
using Transport.Mock;
using Transport.Tests.Actor;
using Transport.Tests.Telemetry;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Initialization;

/// <summary>
/// Issue 26, item 7 made a guarantee (Session.S9): a consumer that reads a frame of epoch N finds
/// <c>Lifecycle.Current</c> already up on epoch N or later. Frames that arrive while the session
/// initializer runs are seen by its waits, held, and released to the source right after the edge.
/// </summary>
public sealed class UpEdgeTests
{
    private static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(5);

    // The README's login pattern: the initializer waits for the venue's reply, then subscribes.
    private static ISessionInitializer ReadmeLogin() => SessionInitializers.From(async (context, cancellationToken) =>
    {
        var ack = context.WaitForFrameAsync(f => f.GetText().StartsWith("login-ok", StringComparison.Ordinal), AckTimeout, cancellationToken);
        await context.Sink.SendTextAsync("login", cancellationToken: cancellationToken);
        await ack;
        await context.Sink.SendTextAsync("subscribe", cancellationToken: cancellationToken);
    });

    // Login, then a subscription whose acknowledgement is awaited too.
    private static ISessionInitializer LoginAndSubscribe() => SessionInitializers.From(async (context, cancellationToken) =>
    {
        var ack = context.WaitForFrameAsync(f => f.GetText().StartsWith("login-ok", StringComparison.Ordinal), AckTimeout, cancellationToken);
        await context.Sink.SendTextAsync("login", cancellationToken: cancellationToken);
        await ack;
        var subscribed = context.WaitForFrameAsync(f => f.GetText().StartsWith("subscribed", StringComparison.Ordinal), AckTimeout, cancellationToken);
        await context.Sink.SendTextAsync("subscribe", cancellationToken: cancellationToken);
        await subscribed;
    });

    [Fact]
    [Trait("Invariant", "Session.S9")]
    [Trait("Invariant", "Hold.H1")]
    [Trait("Invariant", "Init.I3")]
    public void Item7_frames_received_while_the_initializer_runs_are_held_until_the_up_edge()
    {
        var h = ActorHarness.Start(builder: b => b.WithSessionInitializer(LoginAndSubscribe()));
        var socket = h.Socket;

        socket.DeliverText("login-ok");
        socket.DeliverText("snapshot-1"); // the replay's snapshot, before the initializer is done
        h.Pump();

        Assert.Equal(["login", "subscribe"], socket.SentTexts); // the wait saw "login-ok" as it arrived
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
        Assert.False(h.Connection.Source.TryRead(out _)); // nothing readable before the edge
        Assert.Equal(0, h.Connection.Source.Count);

        socket.DeliverText("subscribed");
        socket.DeliverText("tick-1");
        h.Pump();

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        var frames = h.Drain();
        Assert.Equal(["login-ok", "snapshot-1", "subscribed", "tick-1"], frames.Select(f => f.GetText()));
        Assert.All(frames, f => Assert.Equal(0, f.Epoch));
        Assert.Equal(0, h.Now.TotalLagged);
    }

    [Fact]
    [Trait("Invariant", "Session.S9")]
    public void Item7_a_consumer_reading_a_frame_of_epoch_N_finds_the_up_edge_of_N_published_over_many_reconnects()
    {
        const int Reconnects = 60;

        // Paced like a venue that takes one frame per 100 ms: the login and the subscribe of the README's
        // initializer wait for the window, so the venue's reply and the snapshot that follows it arrive
        // while the initializer still runs, and a consumer is ready to read them at once.
        var h = ActorHarness.Start(
            o => o.WithSendRateLimit(1, TimeSpan.FromMilliseconds(100)),
            builder: b => b.WithSessionInitializer(ReadmeLogin()));
        var reads = new List<(Frame Frame, LifecycleSnapshot Seen)>();
        var consumer = h.Adapter(async () =>
        {
            await foreach (var frame in h.Connection.Source)
            {
                reads.Add((frame, h.Connection.Lifecycle.Current));
            }
        });

        for (var n = 0; n <= Reconnects; n++)
        {
            var socket = h.Socket;
            socket.DeliverText($"login-ok-{n}");
            socket.DeliverText($"snapshot-{n}");
            h.Pump();
            Assert.False(h.Now.IsUp && h.Now.Epoch == n, "the subscribe is still waiting for the window");

            h.AdvanceUntil(() => h.Now.IsUp && h.Now.Epoch == n, TimeSpan.FromMilliseconds(50));
            Assert.Equal(n == 0 ? ConnectionPhase.Connected : ConnectionPhase.Resumed, h.Now.Phase);
            socket.DeliverText($"tick-{n}");
            h.Pump();
            if (n < Reconnects)
            {
                socket.Disconnect();
                h.Pump();
            }
        }

        h.Spawner.RunUntilCompleted(h.Connection.Control.ShutdownAsync());
        h.Spawner.RunUntilCompleted(consumer);

        Assert.All(reads, r =>
        {
            Assert.True(r.Seen.Epoch >= r.Frame.Epoch && r.Seen.Phase != ConnectionPhase.Connecting,
                $"{r.Frame.GetText()} of epoch {r.Frame.Epoch} was read while the lifecycle showed {r.Seen}.");
        });
        Assert.Equal(3 * (Reconnects + 1), reads.Count);
        for (var n = 0; n <= Reconnects; n++)
        {
            Assert.Equal([$"login-ok-{n}", $"snapshot-{n}", $"tick-{n}"], reads.Where(r => r.Frame.Epoch == n).Select(r => r.Frame.GetText()));
        }
    }

    [Fact]
    [Trait("Invariant", "Session.S9")]
    [Trait("Invariant", "Hold.H2")]
    public void Item7_no_frame_of_epoch_N_is_readable_before_the_edge_of_N_for_any_schedule()
    {
        // A schedule: which initializer (0: the README login, 1: login and subscribe acks, 2: none that
        // waits, 3: no initializer) and the operations: the venue's replies, data, pings, drops, forced
        // reconnects, time passing, and a consumer that pauses (so the small ring and hold overflow).
        Gen.Select(Gen.Int[0, 3], Gen.Int[0, 11].Array[1, 80]).Sample(
            (variant, ops) => new Schedule(variant).Run(ops),
            iter: 400,
            print: s => $"variant {s.Item1}, ops [{string.Join(",", s.Item2)}]");
    }

    [Fact]
    [Trait("Invariant", "Session.S9")]
    [Trait("Invariant", "Hold.H3")]
    public void Item7_frames_of_a_socket_whose_initializer_failed_are_dropped_counted_and_logged()
    {
        var logs = new CapturingLoggerFactory();
        var rejecting = SessionInitializers.From(async (context, cancellationToken) =>
        {
            var reply = context.WaitForFrameAsync(f => f.GetText().StartsWith("login", StringComparison.Ordinal), AckTimeout, cancellationToken);
            await context.Sink.SendTextAsync("login", cancellationToken: cancellationToken);
            if ((await reply).GetText() != "login-ok")
            {
                throw TransportException.Connection("The venue refused the login (try again).");
            }
        });
        var h = ActorHarness.Start(builder: b => b.WithSessionInitializer(rejecting).WithLoggerFactory(logs));
        var first = h.Socket;

        first.DeliverText("snapshot-early"); // venues may push before they answer the login
        first.DeliverText("login-refused");
        h.Pump();

        Assert.True(first.IsDisposed);
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
        Assert.Equal(0, h.Connection.Source.Count); // never delivered: that socket never went up
        h.AdvanceUntil(() => h.Connector.Attempts >= 2, TimeSpan.FromMilliseconds(100));
        Assert.Equal(2, h.Now.TotalLagged); // counted, not silently lost
        var dropped = Assert.Single(logs.Entries, e => e.EventId.Id == 108);
        Assert.Equal(LogLevel.Warning, dropped.Level);
        Assert.Contains("2 data frames received on epoch 0", dropped.Message, StringComparison.Ordinal);

        h.Socket.DeliverText("login-ok");
        h.Socket.DeliverText("snapshot");
        h.Pump();
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(["login-ok", "snapshot"], h.Drain().Select(f => f.GetText()));
    }

    [Fact]
    [Trait("Invariant", "Session.S9")]
    [Trait("Invariant", "Hold.H2")]
    public void Item7_held_frames_are_bounded_by_the_ring_and_what_does_not_fit_counts_as_lagged()
    {
        var h = ActorHarness.Start(o => o.WithReceiveRing(4, 1_000_000), builder: b => b.WithSessionInitializer(LoginAndSubscribe()));
        var socket = h.Socket;
        socket.DeliverText("login-ok");
        for (var i = 0; i < 10; i++)
        {
            socket.DeliverText($"m{i}");
        }

        h.Pump();
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
        Assert.Equal(0, h.Connection.Source.Count);

        socket.DeliverText("subscribed");
        h.Pump();

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(["m7", "m8", "m9", "subscribed"], h.Drain().Select(f => f.GetText())); // the newest, in order
        Assert.Equal(8, h.Now.TotalLagged); // 12 received, 4 delivered: every other one counted
    }

    [Fact]
    [Trait("Invariant", "Session.S9")]
    [Trait("Invariant", "Session.S6")]
    public void Item7_a_batch_received_before_the_edge_is_held_whole_with_its_ping_answered_at_once()
    {
        var leaf = new BatchLeaf();
        var h = ActorHarness.Start(builder: b => b.UseLeaf(leaf).WithSessionInitializer(LoginAndSubscribe()));

        leaf.Current.Deliver(Frame.Text("login-ok"), Frame.Text("a"), Frame.Ping(new byte[] { 5 }), Frame.Text("b"));
        h.Pump();

        Assert.Equal(3, leaf.Current.TryReceiveHits); // one batch
        Assert.Equal([FrameKind.Text, FrameKind.Pong, FrameKind.Text], leaf.Current.Sent.Select(f => f.Kind)); // login, pong, subscribe
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
        Assert.Equal(0, h.Connection.Source.Count);

        leaf.Current.Deliver(Frame.Text("subscribed"), Frame.Text("c"));
        h.Pump();

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(["login-ok", "a", "b", "subscribed", "c"], h.Drain().Select(f => f.GetText()));
    }

    [Fact]
    [Trait("Invariant", "Session.S9")]
    [Trait("Invariant", "Hold.H3")]
    public void Item7_lease_mode_frames_of_a_socket_that_never_went_up_are_released_and_counted()
    {
        var leaf = new BatchLeaf { Leased = true };
        var h = ActorHarness.Start(o => o.WithSession(TimeSpan.FromSeconds(2)), builder: b => b.UseLeaf(leaf).WithSessionInitializer(LoginAndSubscribe()));
        var first = leaf.Current;

        first.Deliver(Frame.Text("early-1"), Frame.Text("early-2"));
        h.Pump();
        Assert.Equal(2, first.Handed.Count);
        Assert.All(first.Handed, f => Assert.True(f.IsLeased));

        h.Advance(TimeSpan.FromSeconds(2)); // no login reply: the initializer times out, the socket never goes up

        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        Assert.Equal(2, h.Now.TotalLagged);
        Assert.All(first.Handed, f => Assert.Throws<InvalidOperationException>(() => f.Release())); // released, once
        Assert.Equal(0, h.Connection.Source.Count);
    }

    [Fact]
    [Trait("Invariant", "Init.I9")]
    public void I9_a_wait_in_lease_mode_gets_an_owned_copy_of_the_leased_frame()
    {
        Frame? seen = null;
        var initializer = SessionInitializers.From(async (context, cancellationToken) =>
        {
            seen = await context.WaitForFrameAsync(f => f.GetText() == "login-ok", AckTimeout, cancellationToken);
        });
        var leaf = new BatchLeaf { Leased = true };
        var h = ActorHarness.Start(builder: b => b.UseLeaf(leaf).WithSessionInitializer(initializer));

        leaf.Current.Deliver(Frame.Text("login-ok"));
        h.Pump();

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        var delivered = Assert.Single(h.Drain());
        Assert.True(delivered.IsLeased);
        delivered.Release(); // the consumer is done with its frame...
        Assert.NotNull(seen);
        Assert.False(seen.Value.IsLeased);
        Assert.Equal("login-ok", seen.Value.GetText()); // ...and what the initializer got is still readable
        Assert.Equal(0, seen.Value.Epoch);
    }

    [Fact]
    [Trait("Invariant", "Session.S9")]
    public void Item7_a_reconnect_forced_before_the_edge_ends_a_socket_that_never_went_up()
    {
        var h = ActorHarness.Start(builder: b => b.WithSessionInitializer(ReadmeLogin()));
        var first = h.Socket;
        first.DeliverText("snapshot-early");
        h.Pump();

        h.Connection.Control.ReconnectTrigger.ForceReconnect("rotate"); // while the login is pending
        h.Pump();

        Assert.True(first.IsDisposed);
        Assert.Equal(CloseCodes.NormalClosure, first.CloseSent?.Code);
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase); // it never went up
        h.AdvanceUntil(() => h.Connector.Attempts >= 2, TimeSpan.FromMilliseconds(100));
        h.Socket.DeliverText("login-ok");
        h.Pump();

        // The first socket that goes up is Connected, on the next epoch; the early frame was counted.
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(1, h.Now.Epoch);
        Assert.Equal(1, h.Now.TotalLagged);
        Assert.Equal(["login-ok"], h.Drain().Select(f => f.GetText()));
    }

    [Fact]
    [Trait("Invariant", "Session.S9")]
    public void Item7_without_an_initializer_the_edge_comes_before_the_first_frame()
    {
        var h = ActorHarness.Start(script: c =>
        {
            var socket = c.Next.Succeeds();
            socket.DeliverText("hello"); // already there when the socket opens
            socket.DeliverClose(CloseCodes.NormalClosure, "done");
        });

        // Up, then down (and up again on the next socket): the frame was delivered after its edge, not
        // dropped with a socket that never went up.
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(1, h.Now.Epoch);
        Assert.Equal(0, h.Now.TotalLagged);
        var frame = Assert.Single(h.Drain());
        Assert.Equal("hello", frame.GetText());
        Assert.Equal(0, frame.Epoch);
    }

    /// <summary>One random schedule against the whole stack (Item7_no_frame_of_epoch_N_is_readable_before_the_edge_of_N_for_any_schedule).</summary>
    private sealed class Schedule
    {
        private readonly ActorHarness _h;
        private readonly List<string> _violations = [];
        private readonly List<Frame> _reads = [];
        private readonly Task _consumer;
        private TaskCompletionSource? _paused;
        private int _delivered;
        private int _next;

        public Schedule(int variant)
        {
            var initializer = variant switch
            {
                0 => ReadmeLogin(),
                1 => LoginAndSubscribe(),
                2 => SessionInitializers.From((_, _) => ValueTask.CompletedTask),
                _ => null,
            };
            _h = ActorHarness.Start(
                o => o.WithReceiveRing(6, 1_000_000).WithSession(TimeSpan.FromSeconds(3)).WithSendRateLimit(2, TimeSpan.FromMilliseconds(300)),
                builder: b =>
                {
                    if (initializer is not null)
                    {
                        b.WithSessionInitializer(initializer);
                    }
                });
            _consumer = _h.Adapter(ConsumeAsync);
        }

        public void Run(int[] ops)
        {
            foreach (var op in ops)
            {
                Step(op);
                _h.Pump();
                Assert.True(_violations.Count == 0, string.Join("\n", _violations));
            }

            _paused?.TrySetResult();
            _paused = null;
            _h.Pump();
            _h.Spawner.RunUntilCompleted(_h.Connection.Control.ShutdownAsync());
            _h.Spawner.RunUntilCompleted(_consumer);
            Assert.True(_violations.Count == 0, string.Join("\n", _violations));

            // Nothing silently lost: every data frame the client received was read or counted as lagged.
            Assert.Equal(_delivered, _reads.Count + _h.Now.TotalLagged);

            // In arrival order (frames of a later socket arrived later), with the gaps the ring made.
            var sequence = _reads.Select(f => int.Parse(f.GetText().Split(':')[1], CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(sequence.Order(), sequence);
            Assert.Equal(sequence.Distinct().Count(), sequence.Count);
        }

        private void Step(int op)
        {
            var socket = _h.Connector.Current;
            var live = socket is { IsDisposed: false };
            switch (op)
            {
                case 0 or 1 or 2:
                    Deliver(socket, live, "data");
                    break;
                case 3:
                    Deliver(socket, live, "login-ok");
                    break;
                case 4:
                    Deliver(socket, live, "subscribed");
                    break;
                case 5:
                    if (live)
                    {
                        socket!.DeliverPing([1]);
                    }

                    break;
                case 6:
                    if (live)
                    {
                        socket!.Disconnect();
                    }

                    break;
                case 7:
                    _h.Connection.Control.ReconnectTrigger.ForceReconnect("schedule");
                    break;
                case 8:
                    _h.Advance(TimeSpan.FromMilliseconds(700));
                    break;
                case 9:
                    _paused ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    break;
                case 10:
                    _paused?.TrySetResult();
                    _paused = null;
                    break;
                default:
                    _h.Advance(TimeSpan.FromSeconds(2));
                    break;
            }
        }

        private void Deliver(MockSocket? socket, bool live, string what)
        {
            if (!live)
            {
                return;
            }

            socket!.DeliverText($"{what}:{_next++}");
            _delivered++;
        }

        private async Task ConsumeAsync()
        {
            await foreach (var frame in _h.Connection.Source)
            {
                // Session.S9, read at the moment the consumer has the frame.
                var seen = _h.Connection.Lifecycle.Current;
                if (seen.Epoch < frame.Epoch || seen.Phase == ConnectionPhase.Connecting)
                {
                    _violations.Add($"{frame.GetText()} of epoch {frame.Epoch} was read while the lifecycle showed {seen}.");
                }

                _reads.Add(frame);
                if (_paused is { } paused)
                {
                    await paused.Task;
                }
            }
        }
    }

    /// <summary>A leaf whose receiver holds already-parsed frames (Session.S6 batches), optionally over leased payloads.</summary>
    private sealed class BatchLeaf : ILeafConnector
    {
        public bool Leased { get; init; }

        public BatchConnection Current { get; private set; } = null!;

        public ValueTask<ILeafConnection> ConnectAsync(HandshakeRequest handshake, CancellationToken cancellationToken)
        {
            Current = new BatchConnection(Leased);
            return new ValueTask<ILeafConnection>(Current);
        }
    }

    private sealed class BatchConnection(bool leased) : ILeafConnection, ILeafSender, ILeafReceiver
    {
        private readonly Queue<Frame> _parsed = new();
        private TaskCompletionSource<Frame>? _waiting;

        public ILeafSender Sender => this;

        public ILeafReceiver Receiver => this;

        public string? SubProtocol => null;

        public LeafCapabilities Capabilities => LeafCapabilities.SurfacesPings | LeafCapabilities.SurfacesPongs;

        public List<Frame> Sent { get; } = [];

        /// <summary>Every data frame handed to the stack (leased ones as handed, to check their release).</summary>
        public List<Frame> Handed { get; } = [];

        public int TryReceiveHits { get; private set; }

        /// <summary>One read's worth of frames: the first completes a pending receive, the rest wait for TryReceive.</summary>
        public void Deliver(params Frame[] frames)
        {
            foreach (var frame in frames)
            {
                _parsed.Enqueue(leased && frame.IsData ? PayloadAllocator.Leased.Create(frame.Kind, frame.Payload.Span) : frame);
            }

            if (_waiting is { } waiting && TryTake(out var first))
            {
                _waiting = null;
                waiting.SetResult(first);
            }
        }

        public ValueTask<Frame> ReceiveAsync(CancellationToken cancellationToken)
        {
            if (TryTake(out var frame))
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
            if (TryTake(out frame))
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

        public ValueTask CloseAsync(int code, string? reason, CancellationToken cancellationToken)
        {
            Deliver(Frame.Close(code, reason)); // the peer answers at once
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private bool TryTake(out Frame frame)
        {
            if (!_parsed.TryDequeue(out frame))
            {
                return false;
            }

            if (frame.IsData)
            {
                Handed.Add(frame);
            }

            return true;
        }
    }
}
