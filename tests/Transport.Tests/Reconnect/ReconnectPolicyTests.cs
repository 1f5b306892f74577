using Microsoft.Extensions.Logging;
using Transport.Mock;
using Transport.WebSockets;
using Transport.Tests.Actor;
using Transport.Tests.Telemetry;
using Xunit.Abstractions;

namespace Transport.Tests.Reconnect;

/// <summary>
/// Issue #12 over the whole stack (scripted connector, manual clock, pumped spawn): the budget
/// survives cycles, Retry-After, the default attempt cap shared per connector, monotonic time, a
/// finished stream, configuration errors.
/// </summary>
public sealed class ReconnectPolicyTests(ITestOutputHelper output)
{
    private static readonly TransportException Refused = TransportException.Connection("refused");
    private static readonly IFailureClassifier PolicyCloseIsPermanent =
        DefaultFailureClassifier.RefinedBy(e => e.CloseCode == CloseCodes.PolicyViolation ? FailureClass.Permanent : null);

    /// <summary>Scripts <paramref name="count"/> attempts that succeed with a socket the server closes at once.</summary>
    private static void AcceptAndClose(ScriptedConnector connector, int count, int closeCode)
    {
        for (var i = 0; i < count; i++)
        {
            connector.Next.Succeeds().DeliverClose(closeCode, "bye");
        }
    }

    [Fact]
    [Trait("Invariant", "Budget.B2")]
    public async Task Permanent_close_on_every_short_session_ends_Unrecoverable_after_PermanentRetries()
    {
        var h = ActorHarness.Start(
            o => o.WithStableAfter(TimeSpan.FromSeconds(30)).WithPermanentRetries(2),
            c => AcceptAndClose(c, 10, CloseCodes.PolicyViolation),
            classifier: PolicyCloseIsPermanent);

        h.AdvanceUntil(() => h.Now.IsTerminal, TimeSpan.FromMilliseconds(100));

        Assert.Equal(ConnectionPhase.Unrecoverable, h.Now.Phase);
        Assert.Equal(3, h.Connector.Attempts); // the first connection and two retries, each handshake succeeding
        Assert.Equal(3, h.Now.Attempts);
        Assert.Equal(TransportErrorKind.ClosedByPeer, h.Now.LastError?.Kind);
        Assert.Equal(CloseCodes.PolicyViolation, h.Now.LastError?.CloseCode);
        var ended = await Assert.ThrowsAsync<TransportException>(async () => await h.Connection.Source.WaitToReadAsync());
        Assert.Equal(CloseCodes.PolicyViolation, ended.CloseCode);

        h.Advance(TimeSpan.FromHours(1));
        Assert.Equal(3, h.Connector.Attempts);
    }

    [Fact]
    [Trait("Invariant", "Policy.P5")]
    [Trait("Invariant", "Budget.B3")]
    public void Policy_P5_short_sessions_back_off_and_a_healthy_one_reconnects_at_once()
    {
        var h = ActorHarness.Start(o => o
            .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8), useJitter: false)
            .WithStableAfter(TimeSpan.FromSeconds(30)));

        // Three sessions that end at once (1011): waits of 1, 2, 4 s before the next attempt.
        foreach (var wait in new[] { 1, 2, 4 })
        {
            var before = h.Connector.Attempts;
            h.Socket.DeliverClose(CloseCodes.InternalError);
            h.Pump();
            Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
            h.Advance(TimeSpan.FromSeconds(wait) - TimeSpan.FromTicks(1));
            Assert.Equal(before, h.Connector.Attempts);
            h.Advance(TimeSpan.FromTicks(1));
            Assert.Equal(before + 1, h.Connector.Attempts);
            Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        }

        // A session that stays up for StableAfter is healthy: its end reconnects at once.
        h.Advance(TimeSpan.FromSeconds(30));
        var attempts = h.Connector.Attempts;
        h.Socket.DeliverClose(CloseCodes.InternalError);
        h.Pump();
        Assert.Equal(attempts + 1, h.Connector.Attempts);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);

        // ... and restarted the exponent: the next short session waits the first backoff again.
        h.Socket.DeliverClose(CloseCodes.InternalError);
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1) - TimeSpan.FromTicks(1));
        Assert.Equal(attempts + 1, h.Connector.Attempts);
        h.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(attempts + 2, h.Connector.Attempts);
    }

    [Fact]
    public void Short_session_and_failed_attempts_share_one_exponent()
    {
        var h = ActorHarness.Start(o => o
            .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), useJitter: false)
            .WithStableAfter(TimeSpan.FromSeconds(30)));
        h.Connector.Next.Fails(Refused);
        h.Connector.Next.Fails(Refused);

        h.Socket.Disconnect(); // short session: failure 1, wait 1 s
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1)); // attempt fails: failure 2, wait 2 s
        Assert.Equal(2, h.Connector.Attempts);
        h.Advance(TimeSpan.FromSeconds(2)); // attempt fails: failure 3, wait 4 s
        Assert.Equal(3, h.Connector.Attempts);
        h.Advance(TimeSpan.FromSeconds(4) - TimeSpan.FromTicks(1));
        Assert.Equal(3, h.Connector.Attempts);
        h.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
    }

    [Fact]
    [Trait("Invariant", "Policy.P4")]
    public void Retry_after_on_a_429_holds_the_next_attempt_back()
    {
        var h = ActorHarness.Start(script: c =>
        {
            c.Next.Fails(TransportException.HandshakeRejected(429, retryAfter: TimeSpan.FromSeconds(10)));
            c.Next.Fails(TransportException.HandshakeRejected(503, retryAfter: TimeSpan.FromHours(2)));
        });

        h.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(1)); // backoff is 1 s; Retry-After says 10
        Assert.Equal(1, h.Connector.Attempts);
        Assert.Equal(TimeSpan.FromSeconds(10), h.Now.LastError?.RetryAfter);
        h.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(2, h.Connector.Attempts);

        // Two hours asked for, capped by MaxRetryAfter (default 5 minutes).
        h.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromTicks(1));
        Assert.Equal(2, h.Connector.Attempts);
        h.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(3, h.Connector.Attempts);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
    }

    [Fact]
    public async Task Finished_stream_ends_Closed_cleanly_without_a_reconnect()
    {
        var phases = new List<ConnectionPhase>();
        var classifier = DefaultFailureClassifier.RefinedBy(e => e.CloseCode == CloseCodes.NormalClosure ? FailureClass.Finished : null);
        var h = ActorHarness.Start(classifier: classifier);
        using var subscription = h.Connection.Lifecycle.Subscribe(new PhaseRecorder(phases));
        h.Socket.DeliverText("last");

        h.Socket.DeliverClose(CloseCodes.NormalClosure, "end of replay");
        h.Pump();

        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
        Assert.False(h.Now.Exhausted);
        Assert.DoesNotContain(ConnectionPhase.Reconnecting, phases);
        Assert.Equal(1, h.Connector.Attempts);
        Assert.Equal("last", Assert.Single(h.Drain()).GetText());
        Assert.False(await h.Connection.Source.WaitToReadAsync()); // ends normally, no error
        Assert.True(h.Connection.Lifecycle.Completion.IsCompleted);
    }

    [Fact]
    public void Normal_close_of_a_venue_feed_stays_transient_by_default()
    {
        var h = ActorHarness.Start();
        h.Socket.DeliverClose(CloseCodes.NormalClosure);
        h.Pump();
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(2, h.Connector.Attempts);
    }

    [Fact]
    public void Configuration_error_is_permanent_and_logged_once_with_its_message()
    {
        var logs = new CapturingLoggerFactory();
        var error = TransportException.Configuration("The HTTP handler pipeline of HttpClient 'venue' could not be built (InvalidOperationException: No service for type 'SigningHandler' has been registered.).");
        var h = ActorHarness.Start(
            o => o.WithPermanentRetries(2),
            c => c.DefaultOutcome = AttemptOutcome.Fail(error),
            builder: b => b.WithLoggerFactory(logs));

        h.AdvanceUntil(() => h.Now.IsTerminal, TimeSpan.FromSeconds(1));

        Assert.Equal(ConnectionPhase.Unrecoverable, h.Now.Phase);
        Assert.Equal(TransportErrorKind.Configuration, h.Now.LastError?.Kind);
        Assert.Equal(3, h.Connector.Attempts);
        var logged = Assert.Single(logs.Entries, e => e.EventId.Name == "ConfigurationError");
        Assert.Equal(LogLevel.Error, logged.Level);
        Assert.Contains("No service for type 'SigningHandler'", logged.Message, StringComparison.Ordinal);
        Assert.Equal(FailureClass.Permanent, DefaultFailureClassifier.Instance.Classify(error));
    }

    [Fact]
    [Trait("Invariant", "Gate.G2")]
    public void Wall_clock_jumping_back_stalls_neither_backoff_nor_the_attempt_cap()
    {
        SteppedWallClock? wall = null;
        var h = ActorHarness.Start(
            o => o.WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), useJitter: false).WithAttemptRateLimit(2, TimeSpan.FromSeconds(10)),
            c => c.DefaultOutcome = AttemptOutcome.Fail(Refused),
            builder: b => b.WithTimeProvider(wall = new SteppedWallClock(new ManualTimeProvider())));
        var clock = wall!.Monotonic;

        // Two attempts at t=0 and t=1, then the cap; NTP steps wall time back ten minutes.
        clock.Advance(TimeSpan.FromSeconds(1));
        h.Pump();
        Assert.Equal(2, h.Connector.Attempts);
        wall.StepWallClock(TimeSpan.FromMinutes(-10));

        for (var i = 0; i < 60; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            h.Pump();
        }

        // Over 61 s the cap (2 per 10 s) allows 14 starts (t = 0, 1, 10, 11, ..., 60, 61 would be 14 with 61 included).
        Assert.InRange(h.Connector.Attempts, 12, 14);
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
    }

    [Fact]
    [Trait("Invariant", "Gate.G1")]
    public async Task Gate_G1_connections_of_one_connector_share_the_cap()
    {
        var (connector, clock, spawner) = MockHarness.Create();
        connector.DefaultOutcome = AttemptOutcome.Fail(Refused);
        var transport = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri("ws://venue.test/ws")
                .WithBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100), useJitter: false)
                .WithAttemptRateLimit(10, TimeSpan.FromMinutes(1)))
            .UseLeaf(connector)
            .WithTimeProvider(clock)
            .WithSpawner(spawner)
            .WithRandom(() => 0.5)
            .Build();
        var a = transport.Start();
        var b = transport.Start();
        var c = transport.Start();
        spawner.RunUntilIdle();

        for (var i = 0; i < 599; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(100)); // just under one minute
            spawner.RunUntilIdle();
        }

        Assert.Equal(10, connector.Attempts); // the three connections together, not 10 each
        Assert.Equal(10, a.Lifecycle.Current.Attempts + b.Lifecycle.Current.Attempts + c.Lifecycle.Current.Attempts);

        // At t = 60 s the three attempts made at t = 0 leave the window: three more may start.
        clock.Advance(TimeSpan.FromMilliseconds(100));
        spawner.RunUntilIdle();
        Assert.Equal(13, connector.Attempts);
    }

    [Fact]
    public void Attempt_cap_is_on_by_default()
    {
        var options = new TransportOptionsBuilder().WithUri("ws://venue.test/ws").Build();
        Assert.Equal(300, options.Reconnect.MaxAttemptsPerWindow);
        Assert.Equal(TimeSpan.FromMinutes(5), options.Reconnect.AttemptRateWindow);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Reconnect.StableAfter);
        Assert.Equal(TimeSpan.FromMinutes(5), options.Reconnect.MaxRetryAfter);
        Assert.Null(new TransportOptionsBuilder().WithUri("ws://venue.test/ws").WithoutAttemptRateLimit().Build().Reconnect.MaxAttemptsPerWindow);
    }

    [Theory]
    [InlineData("Reconnect.StableAfter")]
    [InlineData("Reconnect.MaxRetryAfter")]
    public void Negative_health_and_retry_after_bounds_fail_naming_the_field(string field)
    {
        var builder = new TransportOptionsBuilder().WithUri("ws://venue.test/ws");
        builder = field == "Reconnect.StableAfter" ? builder.WithStableAfter(TimeSpan.FromSeconds(-1)) : builder.WithMaxRetryAfter(TimeSpan.FromSeconds(-1));
        var ex = Assert.ThrowsAny<Exception>(() => builder.Build());
        Assert.Contains(field, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The figure asked for by issue #12: a server that accepts and closes every session with 1011,
    /// with every reconnect option at its default (jitter drawn at its midpoint).
    /// </summary>
    [Fact]
    public async Task Default_options_against_a_server_that_closes_every_session_with_1011()
    {
        var (connector, clock, spawner) = MockHarness.Create();
        for (var i = 0; i < 1000; i++)
        {
            connector.Next.Succeeds().DeliverClose(CloseCodes.InternalError, "oops");
        }

        var connection = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri("ws://venue.test/ws"))
            .UseLeaf(connector)
            .WithTimeProvider(clock)
            .WithSpawner(spawner)
            .WithRandom(() => 0.5)
            .Build()
            .Start();
        spawner.RunUntilIdle();

        var perMinute = new List<int>();
        for (var minute = 0; minute < 10; minute++)
        {
            var before = connector.Attempts;
            for (var i = 0; i < 600; i++)
            {
                clock.Advance(TimeSpan.FromMilliseconds(100));
                spawner.RunUntilIdle();
            }

            perMinute.Add(connector.Attempts - before);
        }

        output.WriteLine($"attempts per minute, minutes 1-10 (first minute excludes the initial connect): {string.Join(", ", perMinute)}");

        // Backoff 250 ms doubling to 30 s, equal jitter at its midpoint (0.75 x): 187.5 ms, 375 ms,
        // ... then 22.5 s apart once the cap is reached: 2-3 attempts a minute, never a storm.
        Assert.InRange(perMinute[0], 8, 11);
        Assert.All(perMinute.Skip(2), n => Assert.InRange(n, 2, 3));
        Assert.False(connection.Lifecycle.Current.IsUp);
        Assert.False(connection.Lifecycle.Current.IsTerminal);
    }

    private sealed class PhaseRecorder(List<ConnectionPhase> phases) : IObserver<LifecycleSnapshot>
    {
        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(LifecycleSnapshot value)
        {
            lock (phases)
            {
                phases.Add(value.Phase);
            }
        }
    }
}
