using Transport.Mock;
using Transport.Tests.Actor;

namespace Transport.Tests.Initialization;

/// <summary>The session initializer: login, resubscribe and resume before queued data and the up-edge.</summary>
public sealed class SessionInitializerTests
{
    private static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(5);

    // Logs in on every socket and waits for the venue's acknowledgement.
    private static ISessionInitializer Login(List<long>? epochs = null) => SessionInitializers.From(async (context, cancellationToken) =>
    {
        epochs?.Add(context.Epoch);
        var ack = context.WaitForFrameAsync(f => f.GetText() == "login-ok", AckTimeout, cancellationToken);
        await context.Sink.SendTextAsync("login", cancellationToken: cancellationToken);
        await ack;
    });

    [Fact]
    [Trait("Invariant", "Init.I1")]
    [Trait("Invariant", "Init.I5")]
    [Trait("Invariant", "Session.S7")]
    public void I1_queued_order_never_precedes_the_login()
    {
        var epochs = new List<long>();
        var h = ActorHarness.Start(script: c => c.Next.Hangs(), builder: b => b.WithSessionInitializer(Login(epochs)));

        // An order queued while the feed is still connecting.
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySendText("order-1"));
        h.Advance(TimeSpan.FromSeconds(5)); // the hung attempt times out
        h.Advance(TimeSpan.FromSeconds(1)); // backoff; the next attempt connects
        var first = h.Socket;

        Assert.Equal(["login"], first.SentTexts);
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase); // no up-edge before the initializer completes

        first.DeliverText("login-ok");
        h.Pump();
        Assert.Equal(["login", "order-1"], first.SentTexts);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);

        // The same on a new socket: an order queued once the drop is known waits for the new login.
        first.Disconnect();
        h.Pump();
        var second = h.Socket;
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySendText("order-2"));
        h.Pump();
        Assert.NotSame(first, second);
        Assert.Equal(["login"], second.SentTexts);
        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);

        second.DeliverText("login-ok");
        h.Pump();
        Assert.Equal(["login", "order-2"], second.SentTexts);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal([0L, 1L], epochs);
    }

    [Fact]
    [Trait("Invariant", "Init.I2")]
    public void I2_login_rejection_is_permanent()
    {
        var rejecting = SessionInitializers.From(async (context, cancellationToken) =>
        {
            var reply = context.WaitForFrameAsync(f => f.IsData, AckTimeout, cancellationToken);
            await context.Sink.SendTextAsync("login", cancellationToken: cancellationToken);
            if ((await reply).GetText() != "login-ok")
            {
                throw new TransportException(TransportErrorKind.Auth, "The venue rejected the login.");
            }
        });
        var h = ActorHarness.Start(o => o.WithPermanentRetries(0), builder: b => b.WithSessionInitializer(rejecting));
        var socket = h.Socket;

        socket.DeliverText("login-rejected");
        h.Pump();

        Assert.Equal(ConnectionPhase.Unrecoverable, h.Now.Phase);
        Assert.Equal(TransportErrorKind.Auth, h.Now.LastError?.Kind);
        Assert.Equal(1, h.Connector.Attempts); // no knocking again
        Assert.Equal(0, h.Now.Epoch);
        Assert.True(socket.IsDisposed);
        Assert.Equal(CloseCodes.NormalClosure, socket.CloseSent?.Code); // the socket itself was fine: closed politely
    }

    [Fact]
    [Trait("Invariant", "Init.I2")]
    public void I2_initializer_timeout_is_a_transient_attempt_failure()
    {
        var h = ActorHarness.Start(o => o.WithSession(TimeSpan.FromSeconds(2)), builder: b => b.WithSessionInitializer(Login()));
        var first = h.Socket;
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);

        h.Advance(TimeSpan.FromSeconds(2)); // no ack within InitializeTimeout

        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        Assert.True(first.IsDisposed);
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase); // never up: still connecting, no down-edge
        // The next attempt follows (after the backoff the failure budget asks for, if any).
        h.AdvanceUntil(() => h.Connector.Attempts >= 2, TimeSpan.FromMilliseconds(100));
        Assert.Equal(2, h.Connector.Attempts);
        var second = h.Socket;
        second.DeliverText("login-ok");
        h.Pump();

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(1, h.Now.Epoch); // the failed socket kept epoch 0: its frames must not be confused with these
        Assert.Equal(1, h.Connection.Session?.Epoch);
    }

    [Fact]
    [Trait("Invariant", "Init.I2")]
    public void A_login_never_acknowledged_fails_the_attempt_with_a_message_naming_the_initializers_wait_and_its_bound()
    {
        var h = ActorHarness.Start(o => o.WithSession(TimeSpan.FromSeconds(10)), builder: b => b.WithSessionInitializer(Login()));

        h.Advance(AckTimeout); // the venue has no login op: no "login-ok" ever comes

        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        Assert.Equal(
            "The session initializer's WaitForFrameAsync got no matching frame within 00:00:05 (epoch 0): the venue did not answer as expected (a login or subscription never acknowledged?).",
            h.Now.LastError?.Message);
    }

    [Fact]
    [Trait("Invariant", "Init.I2")]
    public void I2_an_initializer_that_ignores_its_token_is_abandoned_at_the_bound()
    {
        var never = new TaskCompletionSource();
        var stubborn = SessionInitializers.From((_, _) => new ValueTask(never.Task));
        var h = ActorHarness.Start(o => o.WithSession(TimeSpan.FromSeconds(3)), builder: b => b.WithSessionInitializer(stubborn));

        h.Advance(TimeSpan.FromSeconds(3));

        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        Assert.True(h.Connector.Sockets[0].IsDisposed);
    }

    [Fact]
    public void An_initializer_that_throws_is_a_transient_failure_named_by_type()
    {
        var calls = 0;
        var flaky = SessionInitializers.From((_, _) => ++calls == 1 ? throw new InvalidOperationException("secret-bearing message") : ValueTask.CompletedTask);
        var h = ActorHarness.Start(builder: b => b.WithSessionInitializer(flaky));

        Assert.Equal(TransportErrorKind.Connection, h.Now.LastError?.Kind);
        Assert.DoesNotContain("secret-bearing", h.Now.LastError!.Message, StringComparison.Ordinal);
        h.AdvanceUntil(() => h.Now.Phase == ConnectionPhase.Connected, TimeSpan.FromMilliseconds(100));
        Assert.Equal(2, calls);
    }

    [Fact]
    [Trait("Invariant", "Init.I3")]
    public async Task I3_wait_sees_only_frames_after_it_started_and_frames_still_reach_the_source()
    {
        Task<Frame>? ack = null;
        var initializer = SessionInitializers.From(async (context, cancellationToken) =>
        {
            await context.Sink.SendTextAsync("hello", cancellationToken: cancellationToken);
            ack = context.WaitForFrameAsync(f => f.GetText().StartsWith("ack", StringComparison.Ordinal), AckTimeout, cancellationToken);
            await ack;
        });
        var h = ActorHarness.Start(script: c =>
        {
            var socket = c.Next.Succeeds();
            socket.DeliverText("ack-early"); // arrives before the wait started
        }, builder: b => b.WithSessionInitializer(initializer));
        Assert.NotNull(ack);
        Assert.False(ack.IsCompleted);

        h.Socket.DeliverText("ack-1");
        h.Socket.DeliverText("ack-2");
        h.Pump();

        Assert.True(ack.IsCompletedSuccessfully);
        Assert.Equal("ack-1", (await ack).GetText());
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(["ack-early", "ack-1", "ack-2"], h.Drain().Select(f => f.GetText()));
    }

    [Fact]
    [Trait("Invariant", "Init.I4")]
    [Trait("Invariant", "Init.I6")]
    public async Task I4_waits_fail_with_the_socket_end_and_I6_context_sink_is_stale_after_its_socket_ended()
    {
        ISessionContext? first = null;
        Task<Frame>? pending = null;
        var initializer = SessionInitializers.From((context, _) =>
        {
            if (context.Epoch == 0)
            {
                first = context;
                pending = context.WaitForFrameAsync(f => f.GetText() == "never", TimeSpan.FromHours(1));
            }

            return ValueTask.CompletedTask;
        });
        var h = ActorHarness.Start(builder: b => b.WithSessionInitializer(initializer));
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);

        // After the initializer, the context's sink still works for its own socket (pinned to it).
        var late = first!.Sink.SendTextAsync("pinned-late").AsTask();
        h.Pump();

        // The send's completion runs its continuation asynchronously (off the pump): wait for it, bounded.
        await late.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["pinned-late"], h.Socket.SentTexts);

        h.Socket.Fail(TransportException.Connection("reset"));
        h.Pump();

        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        var waitError = Assert.IsType<TransportException>(pending!.Exception?.InnerException);
        Assert.Equal(TransportErrorKind.Connection, waitError.Kind);
        var stale = await Assert.ThrowsAsync<TransportException>(() => first.Sink.SendTextAsync("for the dead socket").AsTask());
        Assert.Equal(TransportErrorKind.StaleEpoch, stale.Kind);
        Assert.Equal(SendStatus.StaleEpoch, first.Sink.TrySendText("for the dead socket"));
        Assert.Empty(h.Socket.SentTexts);
    }

    [Fact]
    public void Pings_during_the_initializer_are_answered_at_once()
    {
        var h = ActorHarness.Start(builder: b => b.WithSessionInitializer(Login()));

        h.Socket.DeliverPing([7]);
        h.Pump();

        Assert.Equal(1, h.Socket.PongsSent);
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
    }

    [Fact]
    public void Initializer_frames_are_paced_like_every_send()
    {
        var initializer = SessionInitializers.From(async (context, cancellationToken) =>
        {
            for (var i = 0; i < 4; i++)
            {
                await context.Sink.SendTextAsync($"sub-{i}", cancellationToken: cancellationToken);
            }
        });
        var h = ActorHarness.Start(o => o.WithSendRateLimit(2, TimeSpan.FromSeconds(1)), builder: b => b.WithSessionInitializer(initializer));

        Assert.Equal(["sub-0", "sub-1"], h.Socket.SentTexts);
        h.Advance(TimeSpan.FromSeconds(1.2) - TimeSpan.FromTicks(1)); // the window plus the default 200 ms margin
        Assert.Equal(["sub-0", "sub-1"], h.Socket.SentTexts);
        h.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(["sub-0", "sub-1", "sub-2", "sub-3"], h.Socket.SentTexts);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
    }

    [Fact]
    public void The_context_carries_the_handshake_facts_and_conn_Session_keeps_only_selected_headers()
    {
        ISessionContext? seen = null;
        var headers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase)
        {
            ["X-Session-Id"] = ["s-17"],
            ["Set-Cookie"] = ["sid=secret"],
        };
        var h = ActorHarness.Start(
            o => o.WithSession(TimeSpan.FromSeconds(10), "X-Session-Id"),
            c => c.Next.Succeeds(new HandshakeResponse(101, "v2.venue", ["permessage-deflate; client_max_window_bits=15"], headers)),
            builder: b => b.WithSessionInitializer((context, _) =>
            {
                seen = context;
                return ValueTask.CompletedTask;
            }));

        Assert.NotNull(seen);
        Assert.Equal("sid=secret", seen.Handshake.GetHeader("Set-Cookie"));
        Assert.False(seen.IsReconnect);
        var session = h.Connection.Session;
        Assert.NotNull(session);
        Assert.Same(seen.Session, session);
        Assert.Equal("v2.venue", session.SubProtocol);
        Assert.Equal(["permessage-deflate; client_max_window_bits=15"], session.Extensions);
        Assert.Equal("s-17", session.GetHeader("x-session-id"));
        Assert.Null(session.GetHeader("Set-Cookie"));
        Assert.Equal(h.Clock.GetUtcNow(), session.ConnectedAt);
        Assert.Equal("ws://venue.test/ws", session.Endpoint);
        Assert.DoesNotContain("s-17", session.ToString(), StringComparison.Ordinal);
    }
}
