using System.Text;
using Transport.Mock;
using Transport.Tests.Actor;

namespace Transport.Tests.Rotation;

/// <summary>
/// Make-before-break rotation over the scripted connector, the manual clock and the pumped spawner: one test
/// (at least) per invariant Rotation.T1-T9 (stated on Transport.WebSockets.Rotation.RotationRun).
/// </summary>
public sealed class RotationTests
{
    // Frames "topic:seq" carry a key; anything else ("u...") has none.
    private static readonly FrameKeySelector Keys = static (in Frame frame, out DedupeKey key) =>
    {
        var text = Encoding.UTF8.GetString(frame.Payload.Span);
        var colon = text.IndexOf(':');
        if (colon > 0 && long.TryParse(text.AsSpan(colon + 1), out var seq))
        {
            key = DedupeKey.For(text[..colon], seq);
            return true;
        }

        key = default;
        return false;
    };

    /// <summary>An initializer the test lets finish, per socket; the first socket's passes at once.</summary>
    private sealed class Gate
    {
        private readonly List<TaskCompletionSource> _gates = [];

        public int Runs { get; private set; }

        public Func<ISessionContext, CancellationToken, ValueTask> Initializer => async (context, cancellationToken) =>
        {
            Runs++;
            if (context.Epoch == 0)
            {
                return;
            }

            var gate = new TaskCompletionSource();
            _gates.Add(gate);
            await gate.Task.WaitAsync(cancellationToken);
        };

        public void Open() => _gates[^1].TrySetResult();

        public void Fail(Exception error) => _gates[^1].TrySetException(error);
    }

    private sealed class Recorder : IObserver<LifecycleSnapshot>
    {
        public List<LifecycleSnapshot> Seen { get; } = [];

        public void OnCompleted()
        {
        }

        public void OnError(Exception error) => throw error;

        public void OnNext(LifecycleSnapshot value) => Seen.Add(value);
    }

    private static (ActorHarness H, Gate Gate, Recorder Seen) Up(Action<TransportOptionsBuilder>? configure = null, bool keys = true)
    {
        var gate = new Gate();
        var h = ActorHarness.Start(configure, builder: b =>
        {
            b.WithSessionInitializer(gate.Initializer);
            if (keys)
            {
                b.WithDedupeKey(Keys);
            }
        });
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        var seen = new Recorder();
        h.Connection.Lifecycle.Subscribe(seen);
        h.Pump();
        return (h, gate, seen);
    }

    private static RotationResult Done(Task<RotationResult> rotation)
    {
        Assert.True(rotation.IsCompletedSuccessfully, $"the rotation has not completed: {rotation.Status}");
        return rotation.GetAwaiter().GetResult();
    }

    private static List<string> Texts(ActorHarness h) => [.. h.Drain().Select(f => Encoding.UTF8.GetString(f.Payload.Span))];

    [Fact]
    [Trait("Invariant", "Rotation.T1")]
    public void Rotation_T1_switches_only_when_the_next_socket_is_initialized_with_one_epoch_advance_and_no_down_edge()
    {
        var (h, gate, seen) = Up();
        var old = h.Socket;
        old.DeliverText("a:1");
        h.Pump();

        var rotation = h.Connection.RotateAsync();
        h.Pump();

        // The next socket is connected and initializing; the old one still serves.
        Assert.Equal(2, h.Connector.Attempts);
        var next = h.Socket;
        Assert.NotSame(old, next);
        Assert.Equal(2, gate.Runs);
        Assert.False(rotation.IsCompleted);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(0, h.Now.Epoch);
        Assert.Null(old.CloseSent);
        old.DeliverText("a:2");
        h.Pump();
        Assert.Equal(["a:1", "a:2"], Texts(h));

        gate.Open();
        h.Pump();

        Assert.True(rotation.IsCompletedSuccessfully, $"{h.Now}");
        Assert.Equal(RotationOutcome.Rotated, Done(rotation).Outcome);
        Assert.Equal(1, Done(rotation).Epoch);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(1, h.Now.Epoch);
        Assert.Null(h.Now.DownSince);
        Assert.Equal(CloseCodes.NormalClosure, old.CloseSent?.Code);
        Assert.True(old.IsDisposed);
        Assert.Equal(1, h.Connection.Session?.Epoch);
        Assert.DoesNotContain(seen.Seen, s => s.Phase == ConnectionPhase.Reconnecting || (s.DownSince is not null && s.Epoch > 0));
        Assert.Equal(2, h.Connector.Attempts);

        next.DeliverText("a:3");
        h.Pump();
        var frames = h.Drain();
        Assert.Single(frames);
        Assert.Equal(1, frames[0].Epoch);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T1")]
    public void Rotation_T1_the_next_socket_waits_for_the_attempt_gate()
    {
        var gate = new Gate();
        var h = ActorHarness.Start(o => o.WithAttemptRateLimit(1, TimeSpan.FromSeconds(10)), builder: b => b.WithSessionInitializer(gate.Initializer));
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);

        var rotation = h.Connection.RotateAsync();
        h.Pump();
        Assert.Equal(1, h.Connector.Attempts); // the cap (1 per 10 s) holds the rotation's attempt

        h.AdvanceUntil(() => h.Connector.Attempts == 2, TimeSpan.FromMilliseconds(500));
        gate.Open();
        h.Pump();
        Assert.Equal(RotationOutcome.Rotated, Done(rotation).Outcome);
        Assert.True(h.Clock.GetUtcNow() - h.Now.UpSince!.Value < TimeSpan.FromSeconds(1));
    }

    [Fact]
    [Trait("Invariant", "Rotation.T2")]
    public void Rotation_T2_sends_go_to_the_old_socket_until_the_switch_then_to_the_new_one()
    {
        var (h, gate, _) = Up();
        var old = h.Socket;
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        var next = h.Socket;

        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("before")));
        h.Pump();
        Assert.Contains("before", old.SentTexts);
        Assert.DoesNotContain("before", next.SentTexts);

        gate.Open();
        h.Pump();
        Assert.Equal(RotationOutcome.Rotated, Done(rotation).Outcome);
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("after")));
        h.Pump();
        Assert.Contains("after", next.SentTexts);
        Assert.DoesNotContain("after", old.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T3")]
    public void Rotation_T3_a_refused_next_socket_leaves_the_old_one_serving_and_is_reported()
    {
        var (h, gate, seen) = Up();
        var old = h.Socket;
        var refused = TransportException.Connection("connection refused");
        h.Connector.Next.Fails(refused);

        var rotation = h.Connection.RotateAsync();
        h.Pump();

        Assert.Equal(RotationOutcome.Failed, Done(rotation).Outcome);
        Assert.Same(refused, Done(rotation).Error);
        Assert.Equal(0, Done(rotation).Epoch);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Same(refused, h.Now.LastError);
        Assert.Null(old.CloseSent);
        Assert.DoesNotContain(seen.Seen, s => !s.IsUp);

        old.DeliverText("a:1");
        h.Pump();
        Assert.Equal(["a:1"], Texts(h));

        // The budget was not charged: the old socket's later drop reconnects at once (StableAfter 0 here).
        old.Disconnect();
        h.Pump();
        gate.Open();
        h.Pump();
        Assert.True(h.Now.Phase == ConnectionPhase.Resumed, $"{h.Now} attempts {h.Connector.Attempts}");
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(1, h.Now.Epoch);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T3")]
    public void Rotation_T3_a_next_socket_whose_initializer_fails_is_closed_and_the_old_one_keeps_serving()
    {
        var (h, gate, seen) = Up();
        var old = h.Socket;
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        var next = h.Socket;
        next.DeliverText("a:7");
        next.DeliverText("u-held");
        h.Pump();

        gate.Fail(new TransportException(TransportErrorKind.Auth, "login rejected"));
        h.Pump();

        Assert.Equal(RotationOutcome.Failed, Done(rotation).Outcome);
        Assert.Equal(TransportErrorKind.Auth, Done(rotation).Error?.Kind);
        Assert.Equal(TransportErrorKind.Auth, h.Now.LastError?.Kind);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(0, h.Now.Epoch);
        Assert.True(next.IsDisposed);
        Assert.Null(old.CloseSent);
        Assert.DoesNotContain(seen.Seen, s => !s.IsUp);

        // Nothing of the failed socket was delivered; the old one still is.
        old.DeliverText("a:8");
        h.Pump();
        Assert.Equal(["a:8"], Texts(h));

        // A later rotation works.
        var again = h.Connection.RotateAsync();
        h.Pump();
        gate.Open();
        h.Pump();
        Assert.Equal(RotationOutcome.Rotated, Done(again).Outcome);
        Assert.True(h.Now.Epoch > 0);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T3")]
    public void Rotation_T3_an_initializer_past_its_timeout_fails_the_rotation()
    {
        var (h, _, _) = Up(o => o.WithSession(TimeSpan.FromSeconds(3)));
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        h.AdvanceUntil(() => rotation.IsCompleted, TimeSpan.FromMilliseconds(250));
        Assert.Equal(RotationOutcome.Failed, Done(rotation).Outcome);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(0, h.Now.Epoch);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T4")]
    public void Rotation_T4_keyed_frames_received_on_both_sockets_are_delivered_once()
    {
        var (h, gate, _) = Up();
        var old = h.Socket;
        old.CloseBehavior = CloseBehavior.Hang; // the old socket keeps receiving after the switch, until CloseTimeout
        old.DeliverText("a:1");
        h.Pump();
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        var next = h.Socket;

        // Overlap: the venue sends the same tape on both; the new socket's frames wait for its up-edge.
        old.DeliverText("a:2");
        next.DeliverText("a:2");
        next.DeliverText("a:3");
        h.Pump();
        old.DeliverText("a:3");
        h.Pump();
        gate.Open();
        h.Pump();
        next.DeliverText("a:4");
        h.Pump();
        old.DeliverText("a:4");
        old.DeliverText("b:1");
        next.DeliverText("b:1");
        h.Pump();

        h.Advance(TimeSpan.FromSeconds(2)); // the old socket's close bound
        Assert.True(rotation.IsCompletedSuccessfully);

        Assert.Equal(["a:1", "a:2", "a:3", "a:4", "b:1"], Texts(h));
        Assert.Equal(RotationOutcome.Rotated, Done(rotation).Outcome);
        Assert.Equal(4, Done(rotation).DuplicatesDropped);
        Assert.Equal(TimeSpan.FromSeconds(2), Done(rotation).Overlap);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T4")]
    public void Rotation_T4_a_copy_older_than_the_window_is_delivered_again()
    {
        var gate = new Gate();
        var h = ActorHarness.Start(builder: b => b.WithSessionInitializer(gate.Initializer).WithDedupeKey(Keys, new DedupeWindowOptions { MaxAge = TimeSpan.FromSeconds(1) }));
        var old = h.Socket;
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        var next = h.Socket;
        old.DeliverText("a:1");
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(2));
        next.DeliverText("a:1"); // 2 s after the first copy: outside a 1 s window
        h.Pump();
        gate.Open();
        h.Pump();
        Assert.Equal(RotationOutcome.Rotated, Done(rotation).Outcome);
        Assert.Equal(["a:1", "a:1"], Texts(h));
    }

    [Fact]
    [Trait("Invariant", "Rotation.T4")]
    public void Rotation_T4_a_throwing_selector_makes_the_frame_unkeyed_and_never_stops_the_socket()
    {
        var gate = new Gate();
        FrameKeySelector throws = static (in Frame frame, out DedupeKey key) => throw new FormatException("bad frame");
        var h = ActorHarness.Start(builder: b => b.WithSessionInitializer(gate.Initializer).WithDedupeKey(throws));
        var old = h.Socket;
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        old.DeliverText("x");
        h.Pump();
        gate.Open();
        h.Pump();
        Assert.Equal(RotationOutcome.Rotated, Done(rotation).Outcome);
        Assert.Equal(["x"], Texts(h));
        Assert.True(h.Now.IsUp);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T5")]
    public void Rotation_T5_unkeyed_frames_come_from_the_old_socket_until_the_switch_then_all_of_the_new_sockets()
    {
        var (h, gate, _) = Up();
        var old = h.Socket;
        old.CloseBehavior = CloseBehavior.Hang;
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        var next = h.Socket;

        old.DeliverText("u-old-before");
        next.DeliverText("u-new-before"); // held until the up-edge, delivered right after the switch (the new socket's reply)
        h.Pump();
        gate.Open();
        h.Pump();
        old.DeliverText("u-old-after"); // the old socket, closing: dropped
        next.DeliverText("u-new-after");
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(["u-old-before", "u-new-before", "u-new-after"], Texts(h));
        Assert.Equal(RotationOutcome.Rotated, Done(rotation).Outcome);
        Assert.Equal(0, Done(rotation).DuplicatesDropped);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T5")]
    public void Rotation_T5_without_a_selector_every_frame_is_unkeyed()
    {
        var (h, gate, _) = Up(keys: false);
        var old = h.Socket;
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        var next = h.Socket;
        old.DeliverText("a:1");
        next.DeliverText("a:1");
        h.Pump();
        gate.Open();
        h.Pump();
        next.DeliverText("a:2");
        h.Pump();
        Assert.Equal(["a:1", "a:1", "a:2"], Texts(h));                // unkeyed: the old socket's, then everything of the new one
        Assert.Equal(RotationOutcome.Rotated, Done(rotation).Outcome);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T6")]
    public void Rotation_T6_the_old_socket_dying_during_the_initializer_is_a_reconnect_served_by_the_next_socket()
    {
        var (h, gate, seen) = Up();
        var old = h.Socket;
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        var next = h.Socket;

        old.Disconnect();
        h.Pump();
        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
        Assert.Equal(2, h.Connector.Attempts); // no second socket for the reconnect

        gate.Open();
        h.Pump();
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(1, h.Now.Epoch);
        Assert.Equal(2, h.Connector.Attempts);
        Assert.Equal(RotationOutcome.Reconnected, Done(rotation).Outcome);
        Assert.Equal(1, Done(rotation).Epoch);
        Assert.Single(seen.Seen, s => s.Phase == ConnectionPhase.Reconnecting);

        next.DeliverText("u-after");
        h.Pump();
        Assert.Equal(["u-after"], Texts(h));
    }

    [Fact]
    [Trait("Invariant", "Rotation.T6")]
    public void Rotation_T6_the_old_socket_dying_while_the_next_one_connects_waits_for_that_attempt()
    {
        var (h, gate, _) = Up();
        var old = h.Socket;
        h.Connector.Next.Hangs();
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        Assert.Equal(2, h.Connector.Attempts);

        old.Disconnect();
        h.Pump();
        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
        Assert.Equal(2, h.Connector.Attempts); // the cycle waits for the rotation's attempt

        // It hangs past the connect timeout (5 s): the rotation fails and the cycle connects as usual.
        h.AdvanceUntil(() => h.Connector.Attempts == 3, TimeSpan.FromMilliseconds(250));
        Assert.Equal(RotationOutcome.Failed, Done(rotation).Outcome);
        Assert.Equal(TransportErrorKind.Timeout, Done(rotation).Error?.Kind);
        gate.Open();
        h.Pump();
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(1, h.Now.Epoch);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T6")]
    public void Rotation_T6_ForceReconnect_during_a_rotation_keeps_its_meaning_and_uses_the_next_socket()
    {
        var (h, gate, seen) = Up();
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        h.Connection.Control.ReconnectTrigger.ForceReconnect("test");
        h.Pump();
        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
        gate.Open();
        h.Pump();
        Assert.Equal(RotationOutcome.Reconnected, Done(rotation).Outcome);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(1, h.Now.Epoch);
        Assert.Equal(2, h.Connector.Attempts);
        Assert.Single(seen.Seen, s => s.Phase == ConnectionPhase.Reconnecting);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T7")]
    public void Rotation_T7_calls_during_a_rotation_join_it()
    {
        var (h, gate, _) = Up();
        var first = h.Connection.RotateAsync();
        h.Pump();
        var second = h.Connection.RotateAsync();
        h.Pump();
        gate.Open();
        h.Pump();
        Assert.Same(Done(first), Done(second));
        Assert.Equal(2, h.Connector.Attempts);
        Assert.Equal(1, h.Now.Epoch);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T8")]
    public void Rotation_T8_with_nothing_up_a_rotation_is_skipped()
    {
        var h = ActorHarness.Start(script: c => c.Next.Hangs());
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        Assert.Equal(RotationOutcome.Skipped, Done(rotation).Outcome);
        Assert.Equal(1, h.Connector.Attempts);

        h.ShutdownAsync();
        var after = h.Connection.RotateAsync();
        h.Pump();
        Assert.Equal(RotationOutcome.Skipped, Done(after).Outcome);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T8")]
    public void Rotation_T8_shutdown_during_a_rotation_closes_both_sockets()
    {
        var (h, _, _) = Up();
        var old = h.Socket;
        var rotation = h.Connection.RotateAsync();
        h.Pump();
        var next = h.Socket;
        var shutdown = h.ShutdownAsync();
        h.AdvanceUntil(() => shutdown.IsCompleted, TimeSpan.FromMilliseconds(250));
        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
        Assert.True(old.IsDisposed);
        Assert.True(next.IsDisposed);
        Assert.True(rotation.IsCompleted);
        Assert.Equal(RotationOutcome.Skipped, Done(rotation).Outcome);
    }

    [Fact]
    [Trait("Invariant", "Rotation.T9")]
    public void Rotation_T9_scheduled_rotation_at_lifetime_minus_rotate_before()
    {
        var h = ActorHarness.Start(o => o.WithSessionLifetime(TimeSpan.FromSeconds(20), rotateBefore: TimeSpan.FromSeconds(5)), builder: b => b.WithDedupeKey(Keys));
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);

        h.Advance(TimeSpan.FromSeconds(14.9));
        Assert.Equal(1, h.Connector.Attempts);
        h.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(2, h.Connector.Attempts);
        Assert.Equal(1, h.Now.Epoch);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);

        // Each session is rotated 15 s after its own up-edge, without a down-edge.
        for (var i = 2; i <= 5; i++)
        {
            h.Advance(TimeSpan.FromSeconds(15));
            Assert.Equal(i, h.Now.Epoch);
            Assert.True(h.Now.IsUp);
            Assert.Null(h.Now.DownSince);
        }
    }

    /// <summary>
    /// Rotation.T4/T5/T6 under random schedules: two sockets fed the same keyed tape with random skew, the
    /// switch at a random point, sometimes the old socket dying first. The delivered tape has no gap and no
    /// duplicate, and the epoch advances once per rotation.
    /// </summary>
    [Fact]
    [Trait("Invariant", "Rotation.T4")]
    [Trait("Invariant", "Rotation.T6")]
    public void Rotation_T4_T6_random_schedules_deliver_the_tape_once_and_in_full()
    {
        var random = new Random(2109);
        for (var run = 0; run < 200; run++)
        {
            var (h, gate, _) = Up();
            var seq = 0L;
            var delivered = new List<long>();
            void Collect() => delivered.AddRange(Texts(h).Select(t => long.Parse(t.AsSpan(2))));

            for (var rotation = 1; rotation <= 3; rotation++)
            {
                var old = h.Socket;
                for (var i = 0; i < random.Next(0, 5); i++)
                {
                    old.DeliverText($"a:{++seq}");
                }

                var task = h.Connection.RotateAsync();
                h.Pump();
                var next = h.Socket;
                var dies = random.Next(5) == 0;

                // The venue sends each message on both sockets, in order on each, with random skew between them.
                var oldSent = seq;
                var newSent = seq;
                var newFirst = seq + 1; // the next socket subscribed now: it sees the tape from here on
                var tapeEnd = seq + random.Next(1, 12);
                var switchAt = random.Next(0, 12);
                for (var step = 0; oldSent < tapeEnd || newSent < tapeEnd; step++)
                {
                    if (step == switchAt)
                    {
                        if (dies)
                        {
                            old.Disconnect();
                            h.Pump();
                        }

                        gate.Open();
                        h.Pump();
                    }

                    if (!dies || step < switchAt)
                    {
                        if (oldSent < tapeEnd && random.Next(2) == 0)
                        {
                            old.DeliverText($"a:{++oldSent}");
                        }
                    }
                    else
                    {
                        oldSent = tapeEnd;
                    }

                    if (newSent < tapeEnd && random.Next(2) == 0)
                    {
                        next.DeliverText($"a:{++newSent}");
                    }

                    h.Pump();
                }

                if (switchAt >= 0)
                {
                    if (dies && !task.IsCompleted && h.Now.IsUp)
                    {
                        old.Disconnect();
                        h.Pump();
                    }

                    gate.Open();
                    h.Pump();
                }

                Assert.True(task.IsCompleted, $"run {run}, rotation {rotation}: {h.Now}");
                Assert.True(Done(task).Outcome is RotationOutcome.Rotated or RotationOutcome.Reconnected, $"run {run}: {Done(task)}");
                Assert.Equal(rotation, h.Now.Epoch);
                Assert.True(h.Now.IsUp);
                seq = tapeEnd;
                Collect();
                _ = newFirst;
            }

            Collect();
            Assert.True(delivered.Distinct().Count() == delivered.Count, $"run {run}: duplicates in {string.Join(",", delivered)}");
            Assert.True(delivered.Order().SequenceEqual(Enumerable.Range(1, (int)seq).Select(i => (long)i)), $"run {run}: gaps in {string.Join(",", delivered.Order())} (seq {seq})");
            Assert.Equal(Enumerable.Range(1, (int)seq).Select(i => (long)i), delivered.Order());
            h.ShutdownAsync();
        }
    }
}
