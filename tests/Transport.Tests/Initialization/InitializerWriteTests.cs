using Transport.Mock;
using Transport.Tests.Actor;

namespace Transport.Tests.Initialization;

/// <summary>
/// Issue 26, items 4 and 5: the session initializer's direct writes are bounded (Init.I8) and pongs go
/// first, an uncounted one never waiting for the send window (Init.I7).
/// </summary>
public sealed class InitializerWriteTests
{
    private static readonly TimeSpan AckTimeout = TimeSpan.FromMinutes(5);

    // The README's login pattern: start the wait, send the login, await the venue's reply.
    private static ISessionInitializer Login() => SessionInitializers.From(async (context, cancellationToken) =>
    {
        var ack = context.WaitForFrameAsync(f => f.GetText() == "login-ok", AckTimeout, cancellationToken);
        await context.Sink.SendTextAsync("login", cancellationToken: cancellationToken);
        await ack;
    });

    // Login, then a subscription that waits for the window when the limit is one frame per window.
    private static ISessionInitializer LoginThenSubscribe() => SessionInitializers.From(async (context, cancellationToken) =>
    {
        var ack = context.WaitForFrameAsync(f => f.GetText() == "login-ok", AckTimeout, cancellationToken);
        await context.Sink.SendTextAsync("login", cancellationToken: cancellationToken);
        await context.Sink.SendTextAsync("subscribe", cancellationToken: cancellationToken);
        await ack;
    });

    [Fact]
    [Trait("Invariant", "Init.I8")]
    [Trait("Invariant", "Write.W1")]
    public void Item4_initializer_write_stalled_past_WriteTimeout_fails_the_attempt_and_gives_the_socket_up()
    {
        var h = ActorHarness.Start(
            o => o.WithWriteTimeout(TimeSpan.FromSeconds(2)).WithSession(TimeSpan.FromSeconds(30)),
            c => c.Next.Succeeds().SendBehavior = SendBehavior.Hang, // the peer stopped reading
            builder: b => b.WithSessionInitializer(Login()));
        var first = h.Socket;
        Assert.Equal(1, first.SendAttempts); // the login write is on the socket, pending
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);

        h.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromTicks(1));
        Assert.False(first.IsDisposed); // not a moment before the bound

        h.Advance(TimeSpan.FromTicks(1));

        var error = h.Now.LastError;
        Assert.NotNull(error);
        Assert.Equal(TransportErrorKind.Timeout, error.Kind);
        Assert.Contains("session initializer", error.Message, StringComparison.Ordinal);
        Assert.Contains("Send.WriteTimeout", error.Message, StringComparison.Ordinal);
        Assert.True(first.IsDisposed);
        Assert.Null(first.CloseSent); // a partial frame may be on the wire: no close frame after it
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase); // an ordinary failed attempt, no up-edge

        // The next attempt follows and goes up.
        h.AdvanceUntil(() => h.Connector.Attempts >= 2, TimeSpan.FromMilliseconds(100));
        h.Socket.DeliverText("login-ok");
        h.Pump();
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(["login"], h.Socket.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Init.I8")]
    public void Item4_initializer_write_stalled_at_InitializeTimeout_fails_the_attempt_without_waiting_for_the_write()
    {
        var h = ActorHarness.Start(
            o => o.WithWriteTimeout(null).WithSession(TimeSpan.FromSeconds(3)),
            c => c.Next.Succeeds().SendBehavior = SendBehavior.Hang,
            builder: b => b.WithSessionInitializer(Login()));
        var first = h.Socket;

        h.Advance(TimeSpan.FromSeconds(3));

        var error = h.Now.LastError;
        Assert.NotNull(error);
        Assert.Equal(TransportErrorKind.Timeout, error.Kind);
        Assert.Contains("session initializer", error.Message, StringComparison.Ordinal);
        Assert.Contains("Session.InitializeTimeout", error.Message, StringComparison.Ordinal);
        Assert.Contains("pending on the socket", error.Message, StringComparison.Ordinal);
        Assert.True(first.IsDisposed); // given up at the bound, not waited for
        Assert.Null(first.CloseSent);

        h.AdvanceUntil(() => h.Connector.Attempts >= 2, TimeSpan.FromMilliseconds(100));
        h.Socket.DeliverText("login-ok");
        h.Pump();
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
    }

    [Fact]
    [Trait("Invariant", "Init.I8")]
    [Trait("Invariant", "Init.I5")]
    public void Item4_a_fire_and_forget_initializer_write_stalled_after_it_returned_is_bounded_by_InitializeTimeout()
    {
        var quick = SessionInitializers.From((context, _) =>
        {
            Assert.Equal(SendStatus.Accepted, context.Sink.TrySendText("subscribe"));
            return ValueTask.CompletedTask; // returns while its frame is still on the socket
        });
        var h = ActorHarness.Start(
            o => o.WithWriteTimeout(null).WithSession(TimeSpan.FromSeconds(3)),
            c => c.Next.Succeeds().SendBehavior = SendBehavior.Hang,
            builder: b => b.WithSessionInitializer(quick));
        var first = h.Socket;
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase); // no edge before its write completed (Init.I5)

        h.Advance(TimeSpan.FromSeconds(3));

        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        Assert.Contains("Session.InitializeTimeout", h.Now.LastError!.Message, StringComparison.Ordinal);
        Assert.True(first.IsDisposed);
        Assert.Null(first.CloseSent);
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
        h.AdvanceUntil(() => h.Now.Phase == ConnectionPhase.Connected, TimeSpan.FromMilliseconds(100));
        Assert.Equal(["subscribe"], h.Socket.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Init.I8")]
    public void Item4_an_initializer_failing_with_no_write_pending_still_closes_its_socket_politely()
    {
        var h = ActorHarness.Start(
            o => o.WithSession(TimeSpan.FromSeconds(3)),
            builder: b => b.WithSessionInitializer(Login()));
        var first = h.Socket;

        h.Advance(TimeSpan.FromSeconds(3)); // the login went out; no reply within the bound

        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        Assert.DoesNotContain("pending on the socket", h.Now.LastError!.Message, StringComparison.Ordinal);
        Assert.True(first.IsDisposed);
        Assert.Equal(CloseCodes.NormalClosure, first.CloseSent?.Code);
    }

    [Fact]
    [Trait("Invariant", "Init.I7")]
    public void Item5_uncounted_pong_during_the_initializer_never_waits_for_the_send_window()
    {
        var h = ActorHarness.Start(
            o => o.WithSendRateLimit(1, TimeSpan.FromSeconds(10), countPongs: false),
            builder: b => b.WithSessionInitializer(Login()));
        Assert.Equal(["login"], h.Socket.SentTexts); // the window is now full for 10 s

        h.Socket.DeliverPing([7]);
        h.Pump();

        Assert.Equal(1, h.Socket.PongsSent); // at once, not in 10 s
        Assert.Equal([FrameKind.Text, FrameKind.Pong], h.Socket.Sent.Select(f => f.Kind));
        Assert.Equal([7], h.Socket.Sent[1].Payload.ToArray());
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
    }

    [Fact]
    [Trait("Invariant", "Init.I7")]
    public void Item5_uncounted_pong_is_not_held_behind_an_initializer_frame_waiting_for_the_window()
    {
        var h = ActorHarness.Start(
            o => o.WithSendRateLimit(1, TimeSpan.FromSeconds(10), countPongs: false).WithSession(TimeSpan.FromMinutes(1)),
            builder: b => b.WithSessionInitializer(LoginThenSubscribe()));
        Assert.Equal(["login"], h.Socket.SentTexts); // "subscribe" waits for the window

        h.Advance(TimeSpan.FromSeconds(1));
        h.Socket.DeliverPing([1]);
        h.Pump();
        Assert.Equal([FrameKind.Text, FrameKind.Pong], h.Socket.Sent.Select(f => f.Kind));

        h.Advance(TimeSpan.FromSeconds(9)); // the window allows the next counted frame
        Assert.Equal(["login", "subscribe"], h.Socket.SentTexts);
        h.Socket.DeliverText("login-ok");
        h.Pump();
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
    }

    [Fact]
    [Trait("Invariant", "Init.I7")]
    public void Item5_counted_pong_goes_before_initializer_frames_waiting_for_the_window()
    {
        var h = ActorHarness.Start(
            o => o.WithSendRateLimit(1, TimeSpan.FromSeconds(10), countPongs: true).WithSession(TimeSpan.FromMinutes(1)),
            builder: b => b.WithSessionInitializer(LoginThenSubscribe()));
        h.Advance(TimeSpan.FromSeconds(1));
        h.Socket.DeliverPing([2]);
        h.Pump();
        Assert.Equal(0, h.Socket.PongsSent); // counted: it waits for the window too

        h.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal([FrameKind.Text, FrameKind.Pong], h.Socket.Sent.Select(f => f.Kind)); // the pong first

        h.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal([FrameKind.Text, FrameKind.Pong, FrameKind.Text], h.Socket.Sent.Select(f => f.Kind));
        Assert.Equal(["login", "subscribe"], h.Socket.SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Init.I7")]
    public void Item5_a_pong_waiting_when_the_initializer_completes_goes_out_through_the_pong_lane()
    {
        // Counted pong, full window: it is still waiting when the initializer completes; the write loop,
        // which takes pongs first, sends it as soon as the window allows, ahead of queued data.
        var h = ActorHarness.Start(
            o => o.WithSendRateLimit(1, TimeSpan.FromSeconds(10), countPongs: true),
            builder: b => b.WithSessionInitializer(Login()));
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySendText("order"));
        h.Socket.DeliverPing([3]);
        h.Pump();
        h.Socket.DeliverText("login-ok");
        h.Pump();
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(0, h.Socket.PongsSent);

        h.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal([FrameKind.Text, FrameKind.Pong], h.Socket.Sent.Select(f => f.Kind));
        h.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(["login", "order"], h.Socket.SentTexts);
    }
}
