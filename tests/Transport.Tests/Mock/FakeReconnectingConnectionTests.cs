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

    private sealed class Observer(Action<LifecycleSnapshot> next, Action completed) : IObserver<LifecycleSnapshot>
    {
        public void OnCompleted() => completed();

        public void OnError(Exception error) => throw error;

        public void OnNext(LifecycleSnapshot value) => next(value);
    }
}
