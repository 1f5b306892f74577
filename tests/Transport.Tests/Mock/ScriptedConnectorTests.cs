using Transport.Mock;

namespace Transport.Tests.Mock;

public sealed class ScriptedConnectorTests
{
    private static HandshakeRequest Request() => new(new Uri("wss://venue.test/stream"));

    [Fact]
    [Trait("Invariant", "Connector.C1")]
    public void C1_attempts_consume_the_script_in_order_then_use_the_default()
    {
        var connector = new ScriptedConnector();
        var refused = TransportException.HandshakeRejected(503);
        var unauthorized = TransportException.HandshakeRejected(401);
        connector.Next.Fails(refused);
        var scripted = connector.Next.Succeeds("v2.json");
        connector.FailNext(2, unauthorized);
        Assert.Equal(4, connector.ScriptedRemaining);

        var first = connector.ConnectAsync(Request(), CancellationToken.None).AsTask();
        var second = connector.ConnectAsync(Request(), CancellationToken.None).AsTask();
        var third = connector.ConnectAsync(Request(), CancellationToken.None).AsTask();
        var fourth = connector.ConnectAsync(Request(), CancellationToken.None).AsTask();
        var fifth = connector.ConnectAsync(Request(), CancellationToken.None).AsTask();

        Assert.Same(refused, first.Exception?.InnerException);
        Assert.Same(scripted, Completed.Value(second));
        Assert.Equal("v2.json", Completed.Value(second).SubProtocol);
        Assert.Same(unauthorized, third.Exception?.InnerException);
        Assert.Same(unauthorized, fourth.Exception?.InnerException);
        var fresh = Assert.IsType<MockSocket>(Completed.Value(fifth));
        Assert.NotSame(scripted, fresh);

        Assert.Equal(5, connector.Attempts);
        Assert.Equal(0, connector.ScriptedRemaining);
        Assert.Equal([scripted, fresh], connector.Sockets);
        Assert.Same(fresh, connector.Current);
    }

    [Fact]
    [Trait("Invariant", "Connector.C1")]
    public void C1_current_is_null_until_a_socket_is_handed_out()
    {
        var connector = new ScriptedConnector();
        connector.Next.Fails(TransportException.Connection("refused"));

        _ = connector.ConnectAsync(Request(), CancellationToken.None).AsTask();

        Assert.Null(connector.Current);
        Assert.Empty(connector.Sockets);
        Assert.Equal(1, connector.Attempts);
    }

    [Fact]
    [Trait("Invariant", "Connector.C1")]
    public void C1_default_outcome_can_fail_or_hang()
    {
        var connector = new ScriptedConnector();
        var refused = TransportException.Connection("refused");
        connector.DefaultOutcome = AttemptOutcome.Fail(refused);

        var failed = connector.ConnectAsync(Request(), CancellationToken.None).AsTask();
        Assert.Same(refused, failed.Exception?.InnerException);

        connector.DefaultOutcome = AttemptOutcome.Hang;
        using var cts = new CancellationTokenSource();
        var hung = connector.ConnectAsync(Request(), cts.Token).AsTask();
        Assert.False(hung.IsCompleted);
        Assert.Equal(1, connector.HangingAttempts);
        cts.Cancel();
        Assert.True(hung.IsCanceled);
        Assert.Equal(0, connector.HangingAttempts);
        Assert.Empty(connector.Sockets);
    }

    [Fact]
    [Trait("Invariant", "Connector.C3")]
    public void C3_hang_completes_only_when_the_attempt_token_fires()
    {
        var clock = new ManualTimeProvider();
        var connector = new ScriptedConnector();
        connector.Next.Hangs();
        using var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10), clock);

        var attempt = connector.ConnectAsync(Request(), connectTimeout.Token).AsTask();
        clock.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(1));
        Assert.False(attempt.IsCompleted);

        clock.Advance(TimeSpan.FromTicks(1));

        Assert.True(attempt.IsCanceled);
        var error = Completed.Canceled(attempt);
        Assert.Equal(connectTimeout.Token, error.CancellationToken);
        Assert.Equal(0, connector.HangingAttempts);
    }

    [Fact]
    [Trait("Invariant", "Connector.C3")]
    public void C3_hang_without_a_cancellable_token_never_completes()
    {
        var clock = new ManualTimeProvider();
        var connector = new ScriptedConnector();
        connector.Next.Hangs();

        var attempt = connector.ConnectAsync(Request(), CancellationToken.None).AsTask();
        clock.Advance(TimeSpan.FromDays(1));

        Assert.False(attempt.IsCompleted);
        Assert.Equal(1, connector.HangingAttempts);
    }

    [Fact]
    [Trait("Invariant", "Connector.C4")]
    public void C4_an_already_cancelled_attempt_is_recorded_but_consumes_no_script()
    {
        var connector = new ScriptedConnector();
        var scripted = connector.Next.Succeeds();
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        var attempt = connector.ConnectAsync(Request(), cts.Token).AsTask();

        Assert.True(attempt.IsCanceled);
        Assert.Equal(1, connector.Attempts);
        Assert.Single(connector.Handshakes);
        Assert.Equal(1, connector.ScriptedRemaining);
        Assert.Same(scripted, Completed.Value(connector.ConnectAsync(Request(), CancellationToken.None).AsTask()));
    }

    [Fact]
    [Trait("Invariant", "Connector.C2")]
    public void C2_handshakes_are_copies_taken_at_connect_time()
    {
        var connector = new ScriptedConnector();
        var request = Request();
        request.Headers["Authorization"] = "Bearer first-token";
        request.Cookies["session"] = "cookie-1";
        request.Query["listenKey"] = "key-1";
        request.SubProtocols.Add("v1.json");

        _ = connector.ConnectAsync(request, CancellationToken.None);

        // The auth source rotates the credential on the same request object between attempts.
        request.Headers["Authorization"] = "Bearer second-token";
        request.Cookies["session"] = "cookie-2";
        request.Query["listenKey"] = "key-2";
        request.SubProtocols.Add("v2.json");
        request.Uri = new Uri("wss://backup.venue.test/stream");
        _ = connector.ConnectAsync(request, CancellationToken.None);
        request.Headers.Clear();

        var (first, second) = (connector.Handshakes[0], connector.Handshakes[1]);
        Assert.Equal(1, first.Attempt);
        Assert.Equal("Bearer first-token", first.Headers["authorization"]);
        Assert.Equal("cookie-1", first.Cookies["session"]);
        Assert.Equal("key-1", first.Query["listenKey"]);
        Assert.Equal(["v1.json"], first.SubProtocols);
        Assert.Equal(new Uri("wss://venue.test/stream?listenKey=key-1"), first.Uri);
        Assert.Equal(new Uri("wss://venue.test/stream"), first.Endpoint);

        Assert.Equal(2, second.Attempt);
        Assert.Equal("Bearer second-token", second.Headers["Authorization"]);
        Assert.Equal("cookie-2", second.Cookies["session"]);
        Assert.Equal(["v1.json", "v2.json"], second.SubProtocols);
        Assert.Equal(new Uri("wss://backup.venue.test/stream?listenKey=key-2"), second.Uri);
    }

    [Fact]
    public void Handshake_record_and_connector_text_never_show_credentials()
    {
        var connector = new ScriptedConnector();
        connector.Next.Fails(TransportException.Auth(401));
        var request = Request();
        request.Headers["Authorization"] = "Bearer secret-token";
        request.Cookies["sid"] = "secret-cookie";
        request.Query["token"] = "secret-query";

        _ = connector.ConnectAsync(request, CancellationToken.None);
        var text = connector.Handshakes[0].ToString() + " " + connector;

        Assert.DoesNotContain("secret", text, StringComparison.Ordinal);
        Assert.Contains("venue.test", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Handshakes_is_a_snapshot_not_a_live_view()
    {
        var connector = new ScriptedConnector();
        _ = connector.ConnectAsync(Request(), CancellationToken.None);
        var snapshot = connector.Handshakes;

        _ = connector.ConnectAsync(Request(), CancellationToken.None);

        Assert.Single(snapshot);
        Assert.Equal(2, connector.Handshakes.Count);
    }

    [Fact]
    public void Harness_creates_a_connector_clock_and_spawner()
    {
        var start = new DateTimeOffset(2027, 3, 4, 5, 6, 7, TimeSpan.Zero);

        var (connector, clock, spawner) = MockHarness.Create(start);

        Assert.Equal(0, connector.Attempts);
        Assert.Equal(start, clock.GetUtcNow());
        Assert.Equal(0, spawner.PendingCount);
        Assert.Equal(ManualTimeProvider.DefaultStart, MockHarness.Create().Clock.GetUtcNow());
    }
}
