using Microsoft.Extensions.Time.Testing;
using Transport.Mock;

namespace Transport.Tests.Mock;

public sealed class FakeReconnectingConnectionTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    [Trait("Invariant", "Fake.F1")]
    public void F1_transitions_follow_the_stacks_rules()
    {
        var clock = new FakeTimeProvider(Start);
        var fake = new FakeReconnectingConnection("venue", clock);
        Assert.Equal(ConnectionPhase.Connecting, fake.Connection.Lifecycle.Current.Phase);

        var up = fake.GoUp();
        Assert.Equal((ConnectionPhase.Connected, 0L, 1L, 1L), (up.Phase, up.Epoch, up.Version, up.Attempts));

        clock.Advance(TimeSpan.FromSeconds(3));
        var down = fake.GoDown();
        Assert.Equal(ConnectionPhase.Reconnecting, down.Phase);
        Assert.Equal(Start.AddSeconds(3), down.DownSince);
        Assert.Equal(CloseCodes.Abnormal, down.LastError?.CloseCode);

        clock.Advance(TimeSpan.FromSeconds(1));
        var failed = fake.FailAttempt(TransportException.HandshakeRejected(503));
        Assert.Equal((2L, 503, Start.AddSeconds(3)), (failed.Attempts, failed.LastError!.HttpStatus!.Value, failed.DownSince!.Value));

        var resumed = fake.GoUp();
        Assert.Equal((ConnectionPhase.Resumed, 1L, 3L), (resumed.Phase, resumed.Epoch, resumed.Attempts));
        Assert.Null(resumed.DownSince);

        Assert.Equal(5, fake.Lag(5).TotalLagged);
        Assert.Throws<InvalidOperationException>(() => fake.Publish(s => s with { Epoch = 0 }));
        Assert.Throws<InvalidOperationException>(() => fake.GoUp());
        Assert.Equal(5, fake.Current.Version);
    }

    [Fact]
    [Trait("Invariant", "Fake.F2")]
    public async Task F2_observers_see_current_then_every_publish_and_completion_after_terminal()
    {
        var fake = new FakeReconnectingConnection();
        var seen = new List<ConnectionPhase>();
        var completed = false;
        using var subscription = fake.Connection.Lifecycle.Subscribe(new Observer(s => seen.Add(s.Phase), () => completed = true));
        var waiting = fake.Connection.Lifecycle.WaitForEpochAfterAsync(0);

        fake.GoUp();
        fake.GoDown();
        fake.GoUp();
        Assert.Equal(1, (await waiting).Epoch);
        fake.Terminate(ConnectionPhase.Unrecoverable, TransportException.Auth(401));

        Assert.Equal([ConnectionPhase.Connecting, ConnectionPhase.Connected, ConnectionPhase.Reconnecting, ConnectionPhase.Resumed, ConnectionPhase.Unrecoverable], seen);
        Assert.True(completed);
        Assert.True(fake.Connection.Lifecycle.Completion.IsCompleted);
        Assert.Throws<InvalidOperationException>(() => fake.GoUp());
    }

    [Fact]
    public async Task Rotation_requests_are_recorded_and_completed_by_the_test()
    {
        var fake = new FakeReconnectingConnection();
        Assert.Equal(RotationOutcome.Skipped, (await fake.Connection.RotateAsync()).Outcome); // nothing up yet

        fake.GoUp();
        var first = fake.Connection.RotateAsync();
        var second = fake.Connection.Control.RotateAsync();
        Assert.False(first.IsCompleted);
        Assert.Equal(3, fake.RotationRequests);

        var rotated = new RotationResult(RotationOutcome.Rotated, 1, TimeSpan.FromMilliseconds(3), 2, null);
        Assert.Equal(2, fake.CompleteRotations(rotated));
        Assert.Same(rotated, await first);
        Assert.Same(rotated, await second);
        Assert.Equal(0, fake.CompleteRotations(rotated));
    }

    [Fact]
    [Trait("Invariant", "Fake.F3")]
    public async Task F3_sends_are_recorded_with_options_and_epoch_and_pins_are_checked()
    {
        var fake = new FakeReconnectingConnection();
        var sink = fake.Connection.Sink;
        fake.GoUp();

        await sink.SendAsync(Frame.Text("a"), SendOptions.PinnedTo(0));
        Assert.Equal(SendStatus.Accepted, sink.TrySend(Frame.Text("b"), SendOptions.Urgent));
        fake.GoDown();
        fake.GoUp();
        Assert.Equal(SendStatus.StaleEpoch, sink.TrySend(Frame.Text("old"), SendOptions.PinnedTo(0)));
        var stale = await Assert.ThrowsAsync<TransportException>(async () => await sink.SendAsync(Frame.Text("old"), SendOptions.PinnedTo(0)));
        Assert.Equal(TransportErrorKind.StaleEpoch, stale.Kind);
        await sink.SendAsync(Frame.Text("c"));

        Assert.Equal(["a", "b", "c"], fake.Sent.Select(s => s.Text));
        Assert.Equal([0L, 0L, 1L], fake.Sent.Select(s => s.Epoch));
        Assert.Equal(SendLane.Control, fake.Sent[1].Options.Lane);
        Assert.Equal("a", (await fake.NextSentAsync()).Text);

        fake.Connection.Control.ReconnectTrigger.ForceReconnect("rotate");
        Assert.Equal(["rotate"], fake.ReconnectRequests);

        await fake.Connection.DisposeAsync();
        Assert.True(fake.ShutdownRequested);
        Assert.Equal(ConnectionPhase.Closed, fake.Current.Phase);
        Assert.Equal(SendStatus.Closed, sink.TrySend(Frame.Text("late")));
    }

    [Fact]
    [Trait("Invariant", "Fake.F4")]
    public async Task F4_the_source_yields_pushed_frames_and_ends_with_the_terminal_error()
    {
        var fake = new FakeReconnectingConnection();
        fake.PushText("one");
        fake.Push(Frame.Binary(new byte[] { 2 }));
        Assert.Throws<ArgumentException>(() => fake.Push(Frame.Ping(default)));
        fake.Terminate(ConnectionPhase.Unrecoverable, TransportException.Auth(401));

        var frames = new List<Frame>();
        var ended = await Assert.ThrowsAsync<TransportException>(async () =>
        {
            await foreach (var frame in fake.Connection.Source)
            {
                frames.Add(frame);
            }
        });

        Assert.Equal(2, frames.Count);
        Assert.Equal("one", frames[0].GetText());
        Assert.Equal(401, ended.HttpStatus);
    }

    [Fact]
    [Trait("Invariant", "Fake.F5")]
    public async Task F5_the_initializer_runs_on_each_socket_before_the_up_edge_and_its_sends_are_recorded_pinned()
    {
        var seen = new List<(long Epoch, bool IsReconnect, ConnectionPhase PhaseDuringInit, int Status)>();
        FakeReconnectingConnection? fake = null;
        var initializer = SessionInitializers.From(async (context, ct) =>
        {
            seen.Add((context.Epoch, context.IsReconnect, fake!.Current.Phase, context.Handshake.StatusCode));
            Assert.Equal(context.Epoch, context.Session.Epoch);
            await context.Sink.SendAsync(Frame.Text("login"), ct);
        });
        fake = new FakeReconnectingConnection("venue", new FakeTimeProvider(Start), initializer);
        Assert.Throws<InvalidOperationException>(() => fake.GoUp());

        var up = await fake.GoUpAsync();
        fake.GoDown();
        var resumed = await fake.GoUpAsync();
        await fake.Connection.Sink.SendAsync(Frame.Text("order"));

        Assert.Equal((ConnectionPhase.Connected, 0L, 1L), (up.Phase, up.Epoch, up.Attempts));
        Assert.Equal((ConnectionPhase.Resumed, 1L, 2L), (resumed.Phase, resumed.Epoch, resumed.Attempts));
        Assert.Equal([(0L, false, ConnectionPhase.Connecting, 101), (1L, true, ConnectionPhase.Reconnecting, 101)], seen);
        Assert.Equal(["login", "login", "order"], fake.Sent.Select(s => s.Text));
        Assert.Equal([true, true, false], fake.Sent.Select(s => s.ByInitializer));
        Assert.Equal([SendOptions.PinnedTo(0), SendOptions.PinnedTo(1), default], fake.Sent.Select(s => s.Options));
        Assert.Equal([0L, 1L, 1L], fake.Sent.Select(s => s.Epoch));
    }

    [Fact]
    [Trait("Invariant", "Fake.F5")]
    public async Task F5_the_pinned_sink_of_an_ended_socket_refuses_with_StaleEpoch()
    {
        ISessionContext? first = null;
        var fake = new FakeReconnectingConnection(initializer: SessionInitializers.From((context, _) =>
        {
            first ??= context;
            return ValueTask.CompletedTask;
        }));
        await fake.GoUpAsync();
        Assert.Equal(SendStatus.Accepted, first!.Sink.TrySend(Frame.Text("while up")));

        fake.GoDown();

        Assert.Equal(SendStatus.StaleEpoch, first.Sink.TrySend(Frame.Text("late")));
        var stale = await Assert.ThrowsAsync<TransportException>(async () => await first.Sink.SendAsync(Frame.Text("late")));
        Assert.Equal(TransportErrorKind.StaleEpoch, stale.Kind);
        Assert.Equal(["while up"], fake.Sent.Select(s => s.Text));
        Assert.Equal(SendOptions.PinnedTo(0), fake.Sent[0].Options);
    }

    [Fact]
    [Trait("Invariant", "Fake.F5")]
    public async Task F5_a_failing_initializer_fails_the_attempt_and_its_socket_epoch_is_not_reused()
    {
        var failures = new Queue<Exception>([TransportException.Auth(401), new InvalidOperationException("secret=hunter2")]);
        var fake = new FakeReconnectingConnection(initializer: SessionInitializers.From((_, _) =>
            failures.TryDequeue(out var failure) ? ValueTask.FromException(failure) : ValueTask.CompletedTask));

        var rejected = await fake.GoUpAsync();
        var thrown = await fake.GoUpAsync();
        var up = await fake.GoUpAsync();

        Assert.Equal((ConnectionPhase.Connecting, 1L, 401), (rejected.Phase, rejected.Attempts, rejected.LastError!.HttpStatus!.Value));
        Assert.Equal(TransportErrorKind.Connection, thrown.LastError!.Kind);
        Assert.Contains(nameof(InvalidOperationException), thrown.LastError.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", thrown.LastError.Message, StringComparison.Ordinal);
        Assert.NotNull(thrown.DownSince);
        // Never up before, so Connected; the two failed sockets used epochs 0 and 1 (Actor.A2).
        Assert.Equal((ConnectionPhase.Connected, 2L, 3L), (up.Phase, up.Epoch, up.Attempts));
        Assert.Null(up.DownSince);
    }

    [Fact]
    [Trait("Invariant", "Fake.F5")]
    public async Task F5_frame_waits_see_pushed_frames_which_still_reach_the_source_and_time_out_on_the_fake_clock()
    {
        var clock = new FakeTimeProvider(Start);
        var fake = new FakeReconnectingConnection("venue", clock, SessionInitializers.From(async (context, ct) =>
        {
            var ack = context.WaitForFrameAsync(f => f.GetText().Contains("logged-in", StringComparison.Ordinal), TimeSpan.FromSeconds(5), ct);
            await context.Sink.SendAsync(Frame.Text("login"), ct);
            await ack;
        }));

        var first = fake.GoUpAsync();
        Assert.False(first.IsCompleted);
        fake.PushText("noise");
        Assert.False(first.IsCompleted);
        fake.PushText("logged-in");
        var up = await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(ConnectionPhase.Connected, up.Phase);
        var received = new List<string>();
        while (fake.Connection.Source.TryRead(out var frame))
        {
            received.Add(frame.GetText());
        }

        Assert.Equal(["noise", "logged-in"], received);

        fake.GoDown();
        var second = fake.GoUpAsync();
        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.False(second.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(1));
        var timedOut = await second.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ConnectionPhase.Reconnecting, timedOut.Phase);
        Assert.Equal(TransportErrorKind.Timeout, timedOut.LastError!.Kind);
    }

    [Fact]
    [Trait("Invariant", "Fake.F5")]
    public async Task F5_going_down_while_the_initializer_runs_cancels_it_and_fails_the_attempt_with_the_down_error()
    {
        var cancelled = false;
        var fake = new FakeReconnectingConnection(initializer: SessionInitializers.From(async (_, ct) =>
        {
            try
            {
                await new TaskCompletionSource().Task.WaitAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Volatile.Write(ref cancelled, true);
                throw;
            }
        }));

        var attempt = fake.GoUpAsync();
        fake.GoDown(TransportException.ClosedByPeer(CloseCodes.GoingAway, null));
        var failed = await attempt.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(Volatile.Read(ref cancelled));
        Assert.False(failed.IsUp);
        Assert.Equal(CloseCodes.GoingAway, failed.LastError!.CloseCode);
        Assert.Empty(fake.Sent);
    }

    private sealed class Observer(Action<LifecycleSnapshot> next, Action completed) : IObserver<LifecycleSnapshot>
    {
        public void OnCompleted() => completed();

        public void OnError(Exception error) => throw error;

        public void OnNext(LifecycleSnapshot value) => next(value);
    }
}
