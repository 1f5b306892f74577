using Transport.Mock;
using Transport.Tests.Actor;
using Transport.WebSockets.Sending;

namespace Transport.Tests.Sending;

/// <summary>
/// Issue #13 item 10: a write that does not complete within Send.WriteTimeout marks the socket
/// dead and reconnects; an interrupted frame is resent (at-least-once) or failed (at-most-once).
/// </summary>
public sealed class WriteTimeoutTests
{
    private static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(5);

    [Fact]
    [Trait("Invariant", "Write.W1")]
    [Trait("Invariant", "Write.W2")]
    public async Task Item10_write_stalled_past_WriteTimeout_reconnects_and_resends_at_least_once()
    {
        var h = ActorHarness.Start(o => o.WithWriteTimeout(WriteTimeout));
        var stalled = h.Socket;
        stalled.SendBehavior = SendBehavior.Hang; // the peer stopped reading
        var subscribe = h.Connection.Sink.SendAsync(Frame.Text("subscribe")).AsTask();
        var behind = h.Connection.Sink.SendAsync(Frame.Text("behind it")).AsTask();
        h.Pump();

        h.Advance(WriteTimeout - TimeSpan.FromTicks(1));
        Assert.Equal(0, h.Now.Epoch);
        Assert.False(subscribe.IsCompleted);

        h.Advance(TimeSpan.FromTicks(1));

        // The stalled socket was given up and the frames went out, in order, on the next one.
        Assert.True(stalled.IsDisposed);
        Assert.Equal(1, h.Now.Epoch);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        Assert.Equal(["subscribe", "behind it"], h.Socket.SentTexts);
        await subscribe;
        await behind;
    }

    [Fact]
    [Trait("Invariant", "Write.W2")]
    public async Task Item10_stalled_at_most_once_frame_fails_with_WriteInterrupted_and_is_not_resent()
    {
        var h = ActorHarness.Start(o => o.WithWriteTimeout(WriteTimeout));
        h.Socket.SendBehavior = SendBehavior.Hang;
        var order = h.Connection.Sink.SendAsync(Frame.Text("new order"), SendOptions.AtMostOnce).AsTask();
        var subscribe = h.Connection.Sink.SendAsync(Frame.Text("subscribe")).AsTask();
        h.Pump();

        h.Advance(WriteTimeout);

        var error = await Assert.ThrowsAsync<TransportException>(() => order);
        Assert.Equal(TransportErrorKind.WriteInterrupted, error.Kind);
        await subscribe; // never taken by the stalled writer: delivered on the next socket
        Assert.Equal(["subscribe"], h.Socket.SentTexts);
        Assert.Equal(1, h.Now.Epoch);
    }

    [Fact]
    [Trait("Invariant", "Write.W2")]
    public async Task Item10_socket_failing_mid_write_at_most_once_fails_and_at_least_once_is_resent()
    {
        var h = ActorHarness.Start();
        var failing = h.Socket;
        failing.SendBehavior = SendBehavior.Fail;
        var order = h.Connection.Sink.SendAsync(Frame.Text("order"), SendOptions.AtMostOnce).AsTask();
        h.Pump();

        Assert.Equal(TransportErrorKind.WriteInterrupted, (await Assert.ThrowsAsync<TransportException>(() => order)).Kind);
        Assert.Equal(1, h.Now.Epoch);

        h.Socket.SendBehavior = SendBehavior.Fail;
        var resend = h.Connection.Sink.SendAsync(Frame.Text("subscribe")).AsTask();
        h.Pump();
        Assert.Equal(2, h.Now.Epoch);
        await resend;
        Assert.Equal(["subscribe"], h.Socket.SentTexts);
        Assert.Empty(failing.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Write.W2")]
    public async Task Item10_shutdown_during_an_at_most_once_write_fails_it_with_WriteInterrupted()
    {
        var h = ActorHarness.Start(o => o.WithWriteTimeout(null));
        h.Socket.SendBehavior = SendBehavior.Hang;
        var order = h.Connection.Sink.SendAsync(Frame.Text("order"), SendOptions.AtMostOnce).AsTask();
        h.Pump();

        await h.ShutdownAsync();

        Assert.Equal(TransportErrorKind.WriteInterrupted, (await Assert.ThrowsAsync<TransportException>(() => order)).Kind);
    }

    [Fact]
    [Trait("Invariant", "Write.W1")]
    public void Item10_write_completing_just_in_time_is_not_a_stall()
    {
        var clock = new ManualTimeProvider();
        var watchdog = new WriteWatchdog(WriteTimeout, clock);
        Assert.Equal(WriteTimeout, watchdog.UntilStall()); // idle: nothing can stall sooner

        watchdog.Started();
        clock.Advance(WriteTimeout - TimeSpan.FromTicks(1));
        Assert.Equal(TimeSpan.FromTicks(1), watchdog.UntilStall());
        watchdog.Completed();
        clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(WriteTimeout, watchdog.UntilStall());

        watchdog.Started();
        clock.Advance(WriteTimeout);
        Assert.Null(watchdog.UntilStall());
    }

    [Fact]
    [Trait("Invariant", "Write.W1")]
    public void Item10_idle_sessions_are_not_stalls()
    {
        var h = ActorHarness.Start(o => o.WithWriteTimeout(WriteTimeout));

        h.Advance(TimeSpan.FromMinutes(5));

        Assert.Equal(0, h.Now.Epoch);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
    }
}
