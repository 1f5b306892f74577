using Transport.Mock;

namespace Transport.Tests.Actor;

/// <summary>The connect-time axis: auth per attempt, timeouts, backoff, rate cap, the breaker.</summary>
public sealed class ReconnectTests
{
    private static readonly TransportException Refused = TransportException.Connection("refused");

    [Fact]
    public void First_connection_publishes_Connected_at_epoch_zero()
    {
        var h = ActorHarness.Start();

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(0, h.Now.Epoch);
        Assert.Equal(1, h.Now.Attempts);
        Assert.Null(h.Now.DownSince);
        Assert.Single(h.Connector.Handshakes);
        Assert.Equal(new Uri("ws://venue.test/ws"), h.Connector.Handshakes[0].Uri);
    }

    [Fact]
    [Trait("Invariant", "Actor.A1")]
    public void A1_rotated_credential_is_used_on_reconnect()
    {
        var token = "token-1";
        var contexts = new List<AuthContext>();
        var auth = AuthSources.From((request, context, _) =>
        {
            contexts.Add(context);
            request.Headers["Authorization"] = "Bearer " + token;
            request.Query["resume_from"] = "42";
            return ValueTask.CompletedTask;
        });
        var h = ActorHarness.Start(auth: auth);

        token = "token-2"; // rotated between the drop and the reconnect
        h.Socket.Disconnect();
        h.Pump();

        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(2, h.Connector.Handshakes.Count);
        Assert.Equal("Bearer token-1", h.Connector.Handshakes[0].Headers["Authorization"]);
        Assert.Equal("Bearer token-2", h.Connector.Handshakes[1].Headers["Authorization"]);
        Assert.Equal("42", h.Connector.Handshakes[1].Query["resume_from"]);
        Assert.Equal([new AuthContext(0, 1, false), new AuthContext(1, 2, true)], contexts);
    }

    [Fact]
    [Trait("Invariant", "Policy.P1")]
    public void R2_hung_handshake_is_cut_by_connect_timeout_and_backoff_proceeds()
    {
        var h = ActorHarness.Start(script: c =>
        {
            c.Next.Hangs();
            c.Next.Succeeds();
        });
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);

        h.Advance(TimeSpan.FromSeconds(5) - TimeSpan.FromTicks(1));
        Assert.Equal(1, h.Now.Attempts);
        Assert.Null(h.Now.LastError);

        h.Advance(TimeSpan.FromTicks(1)); // connect timeout fires
        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        Assert.Equal(1, h.Now.Attempts);

        h.Advance(TimeSpan.FromSeconds(1)); // first backoff
        Assert.Equal(2, h.Now.Attempts);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
    }

    [Fact]
    public void R3_backoff_doubles_from_min_to_the_cap()
    {
        var h = ActorHarness.Start(
            o => o.WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8), useJitter: false),
            c => c.FailNext(7, Refused));

        TimeSpan[] expected = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(8)];
        for (var i = 0; i < expected.Length; i++)
        {
            var before = h.Now.Attempts;
            h.Advance(expected[i] - TimeSpan.FromTicks(1));
            Assert.Equal(before, h.Now.Attempts);
            h.Advance(TimeSpan.FromTicks(1));
            Assert.Equal(before + 1, h.Now.Attempts);
        }

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(8, h.Now.Attempts);
    }

    [Fact]
    [Trait("Invariant", "Gate.G1")]
    public void R4_attempt_rate_cap_holds_during_a_storm()
    {
        var starts = new List<DateTimeOffset>();
        TimeProvider? clock = null; // set once the harness exists; the first attempt runs at the clock's start
        var auth = AuthSources.From((_, _, _) =>
        {
            starts.Add(clock?.GetUtcNow() ?? ManualTimeProvider.DefaultStart);
            return ValueTask.CompletedTask;
        });
        var h = ActorHarness.Start(
            o => o.WithBackoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(100), useJitter: false)
                  .WithAttemptRateLimit(5, TimeSpan.FromMinutes(1)),
            c => c.DefaultOutcome = AttemptOutcome.Fail(Refused),
            auth: auth);
        clock = h.Clock;

        for (var i = 0; i < 10 * 60 * 10; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100)); // ten minutes of storm
        }

        var window = TimeSpan.FromMinutes(1);
        for (var i = 0; i < starts.Count; i++)
        {
            var inWindow = starts.Count(t => t >= starts[i] && t < starts[i] + window);
            Assert.True(inWindow <= 5, $"{inWindow} attempts started within one minute of {starts[i]:O}.");
        }

        // The cap, not the 100 ms backoff, set the pace: 5 per minute for 10 minutes (+ the window's edge).
        Assert.InRange(h.Now.Attempts, 50, 55);
    }

    [Fact]
    [Trait("Invariant", "Policy.P2")]
    public void R5_transient_failures_are_retried_forever()
    {
        var h = ActorHarness.Start(o => o.WithBackoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(10), useJitter: false));
        for (var i = 0; i < 1000; i++)
        {
            // A fresh exception per attempt: one instance thrown 1,000 times through the actor's
            // awaits accumulates every rethrow's stack trace (quadratic time and memory).
            h.Connector.Next.Fails(TransportException.Connection("refused"));
        }

        h.Socket.Disconnect();
        h.Pump();
        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
        h.AdvanceUntil(() => h.Now.Phase == ConnectionPhase.Resumed, TimeSpan.FromMilliseconds(10));

        Assert.Equal(1, h.Now.Epoch);
        Assert.Equal(1 + 1000 + 1, h.Now.Attempts);
        Assert.Null(h.Now.DownSince);
        Assert.False(h.Now.Exhausted);
    }

    [Fact]
    [Trait("Invariant", "Budget.B2")]
    public async Task R6_permanent_failure_becomes_unrecoverable_after_the_configured_retries()
    {
        var h = ActorHarness.Start(
            o => o.WithPermanentRetries(2),
            c => c.FailNext(10, TransportException.HandshakeRejected(401)));

        h.AdvanceUntil(() => h.Now.IsTerminal, TimeSpan.FromSeconds(1));

        Assert.Equal(ConnectionPhase.Unrecoverable, h.Now.Phase);
        Assert.Equal(3, h.Now.Attempts); // the first attempt and two retries
        Assert.Equal(3, h.Connector.Attempts);
        Assert.Equal(401, h.Now.LastError?.HttpStatus);
        Assert.True(h.Connection.Lifecycle.Completion.IsCompleted);
        var ended = await Assert.ThrowsAsync<TransportException>(async () => await h.Connection.Source.WaitToReadAsync());
        Assert.Equal(TransportErrorKind.Auth, ended.Kind);

        // The actor stopped: no further attempts, whatever time passes.
        h.Advance(TimeSpan.FromHours(1));
        Assert.Equal(3, h.Connector.Attempts);
    }

    [Fact]
    public void R6_adapter_classifier_refines_the_default()
    {
        // This venue closes with 4003 when the key is revoked: Permanent, with no retries.
        var classifier = DefaultFailureClassifier.RefinedBy(e => e.CloseCode == 4003 ? FailureClass.Permanent : null);
        var h = ActorHarness.Start(o => o.WithPermanentRetries(0), classifier: classifier);

        h.Socket.DeliverClose(4003, "key revoked");
        h.Pump();

        Assert.Equal(ConnectionPhase.Unrecoverable, h.Now.Phase);
        Assert.Equal(4003, h.Now.LastError?.CloseCode);
        Assert.Equal(1, h.Connector.Attempts);
    }

    [Fact]
    [Trait("Invariant", "Budget.B2")]
    public void R7_max_attempts_gives_up_and_sets_Exhausted()
    {
        var h = ActorHarness.Start(o => o.WithMaxAttempts(4), c => c.DefaultOutcome = AttemptOutcome.Fail(Refused));

        h.AdvanceUntil(() => h.Now.IsTerminal, TimeSpan.FromSeconds(1));

        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
        Assert.True(h.Now.Exhausted);
        Assert.Equal(4, h.Now.Attempts);
        Assert.Equal(TransportErrorKind.Connection, h.Now.LastError?.Kind);
    }

    [Fact]
    [Trait("Invariant", "Actor.A2")]
    public void A2_epoch_advances_once_per_down_cycle()
    {
        var h = ActorHarness.Start();
        for (var cycle = 1; cycle <= 5; cycle++)
        {
            h.Socket.Disconnect();
            h.Pump();
            Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
            Assert.Equal(cycle, h.Now.Epoch);
        }

        Assert.Equal(6, h.Connector.Attempts);
    }

    [Fact]
    public void Drop_publishes_Reconnecting_with_DownSince_and_the_error()
    {
        var h = ActorHarness.Start(script: c =>
        {
            c.Next.Succeeds();
            c.Next.Fails(Refused);
        });
        var droppedAt = h.Clock.GetUtcNow();

        h.Socket.Disconnect();
        h.Pump();

        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
        Assert.Equal(droppedAt, h.Now.DownSince);
        Assert.Equal(0, h.Now.Epoch);
        Assert.Equal(TransportErrorKind.Connection, h.Now.LastError?.Kind);

        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(1, h.Now.Epoch);
    }

    [Fact]
    public void DownSince_is_set_while_Connecting_from_the_start_and_cleared_at_the_up_edge()
    {
        // LifecycleSnapshot documents DownSince for every phase that is not up, Connecting included
        // (issue 17, item 8): the first attempt fails, the snapshot says since when the feed has been down.
        var h = ActorHarness.Start(script: c =>
        {
            c.Next.Fails(Refused);
            c.Next.Succeeds();
        });
        var startedAt = h.Clock.GetUtcNow();

        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
        Assert.Equal(startedAt, h.Now.DownSince);

        h.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Null(h.Now.DownSince);
    }
}
