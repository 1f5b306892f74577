using Transport;
using Transport.Mock;
using Transport.WebSockets;
using TradingAdapters.ListenKey;

namespace Samples.Tests.ListenKey;

/// <summary>
/// The Binance-style listen-key source against the venue's REST side mocked with WireMock.Net: obtain
/// (POST), keep-alive (PUT) on a FakeTimeProvider timer, obtain again after a 401 or when the key
/// expires, each connect attempt on the current key, and the key never written anywhere.
/// The fake clock drives every timer; the only waits are on the real HTTP round trips, bounded.
/// </summary>
public sealed class ListenKeySourceTests
{
    private static EndpointContext Attempt(long attempt, TransportException? lastError = null) =>
        new(attempt, 1, 0, attempt > 1, [new Uri("wss://stream.venue.example:9443/ws")], lastError);

    [Fact]
    [Trait("Invariant", "ListenKey.K1")]
    public async Task First_attempt_obtains_a_key_and_the_endpoint_ends_in_it_as_a_sensitive_segment_reused_until_it_changes()
    {
        await using var venue = new ListenKeyVenue();

        var first = await venue.Source.GetEndpointAsync(Attempt(1), CancellationToken.None);
        var second = await venue.Source.GetEndpointAsync(Attempt(2), CancellationToken.None);

        Assert.Equal(new Uri("wss://stream.venue.example:9443/ws/KEY-1"), first.Uri);
        Assert.Equal(first.Uri, second.Uri);
        Assert.Equal(1, venue.Posts); // the second attempt reuses the live key
        Assert.Equal("wss://stream.venue.example:9443/ws/***", first.ToString());
        Assert.Equal(new ListenKeyEvent(ListenKeyEventKind.Obtained, 1, 200), await venue.NextEventAsync());
        var post = Assert.Single(venue.Server.LogEntries);
        Assert.Equal(ListenKeyVenue.ApiKey, post.RequestMessage.Headers!["X-MBX-APIKEY"].ToString());
        venue.AssertNoSecrets(venue.Source.ToString(), first.ToString());
    }

    [Fact]
    [Trait("Invariant", "ListenKey.K2")]
    public async Task Keep_alive_PUT_fires_on_the_fake_clock_every_interval_and_keeps_the_key_past_its_first_lifetime()
    {
        await using var venue = new ListenKeyVenue();
        await venue.Source.GetEndpointAsync(Attempt(1), CancellationToken.None);
        await venue.NextEventAsync(); // Obtained

        venue.Clock.Advance(TimeSpan.FromMinutes(29));
        var first = await venue.TickAsync(TimeSpan.FromMinutes(1));
        var second = await venue.TickAsync(TimeSpan.FromMinutes(30));
        venue.Clock.Advance(TimeSpan.FromMinutes(5)); // 65 min after the POST: alive only thanks to the PUTs
        var endpoint = await venue.Source.GetEndpointAsync(Attempt(2), CancellationToken.None);

        Assert.Equal(new ListenKeyEvent(ListenKeyEventKind.KeptAlive, 1, 200), first);
        Assert.Equal(new ListenKeyEvent(ListenKeyEventKind.KeptAlive, 1, 200), second);
        Assert.Equal(["listenKey=KEY-1", "listenKey=KEY-1"], venue.PutBodies); // one PUT per tick, none before 30 min; key in the body
        Assert.EndsWith("/KEY-1", endpoint.Uri.AbsolutePath, StringComparison.Ordinal);
        Assert.Equal(1, venue.Posts);
        venue.AssertNoSecrets();
    }

    [Fact]
    [Trait("Invariant", "ListenKey.K3")]
    public async Task Keep_alive_answered_401_obtains_a_new_key_reports_Replaced_and_forces_a_reconnect()
    {
        await using var venue = new ListenKeyVenue();
        var reconnects = new List<string>();
        venue.Source.ReconnectOnReplace(new ReconnectTrigger(reconnects.Add));
        await venue.Source.GetEndpointAsync(Attempt(1), CancellationToken.None);
        await venue.NextEventAsync(); // Obtained
        venue.RefuseKeepAlive(401);

        var refused = await venue.TickAsync(TimeSpan.FromMinutes(30));
        var replaced = await venue.NextEventAsync();
        var endpoint = await venue.Source.GetEndpointAsync(Attempt(2), CancellationToken.None);

        Assert.Equal(new ListenKeyEvent(ListenKeyEventKind.RefusedByKeepAlive, 1, 401), refused);
        Assert.Equal(new ListenKeyEvent(ListenKeyEventKind.Replaced, 2, 200), replaced);
        Assert.Equal(["listen key replaced"], reconnects);
        Assert.EndsWith("/KEY-2", endpoint.Uri.AbsolutePath, StringComparison.Ordinal);
        Assert.Equal(2, venue.Posts);
        venue.AssertNoSecrets(venue.Source.ToString());
    }

    [Fact]
    [Trait("Invariant", "ListenKey.K3")]
    public async Task Stream_handshake_answered_401_drops_the_key_and_the_next_attempt_obtains_another()
    {
        await using var venue = new ListenKeyVenue();
        await venue.Source.GetEndpointAsync(Attempt(1), CancellationToken.None);

        var next = await venue.Source.GetEndpointAsync(Attempt(2, TransportException.HandshakeRejected(401)), CancellationToken.None);
        var afterOther = await venue.Source.GetEndpointAsync(Attempt(3, TransportException.HandshakeRejected(503)), CancellationToken.None);

        Assert.EndsWith("/KEY-2", next.Uri.AbsolutePath, StringComparison.Ordinal);
        Assert.Equal(next.Uri, afterOther.Uri); // a 503 says nothing about the key
        Assert.Equal(2, venue.Posts);
        Assert.Equal(ListenKeyEventKind.Obtained, (await venue.NextEventAsync()).Kind);
        Assert.Equal(new ListenKeyEvent(ListenKeyEventKind.RefusedByStream, 1, 401), await venue.NextEventAsync());
        Assert.Equal(new ListenKeyEvent(ListenKeyEventKind.Obtained, 2, 200), await venue.NextEventAsync());
    }

    [Fact]
    [Trait("Invariant", "ListenKey.K4")]
    [Trait("Invariant", "ListenKey.K6")]
    public async Task Key_whose_keep_alives_keep_failing_expires_after_its_lifetime_and_a_new_one_is_obtained()
    {
        await using var venue = new ListenKeyVenue();
        await venue.Source.GetEndpointAsync(Attempt(1), CancellationToken.None);
        await venue.NextEventAsync(); // Obtained
        venue.RefuseKeepAlive(503);

        var failed = await venue.TickAsync(TimeSpan.FromMinutes(30)); // the timer survives the failure
        var expired = await venue.TickAsync(TimeSpan.FromMinutes(30)); // 60 min: the key's life is over
        var replaced = await venue.NextEventAsync();
        var endpoint = await venue.Source.GetEndpointAsync(Attempt(2), CancellationToken.None);

        Assert.Equal(new ListenKeyEvent(ListenKeyEventKind.KeepAliveFailed, 1, 503), failed);
        Assert.Equal(new ListenKeyEvent(ListenKeyEventKind.Expired, 1, null), expired);
        Assert.Equal(new ListenKeyEvent(ListenKeyEventKind.Replaced, 2, 200), replaced);
        Assert.EndsWith("/KEY-2", endpoint.Uri.AbsolutePath, StringComparison.Ordinal);
        Assert.Single(venue.PutBodies); // the expired key was not kept alive again
        Assert.Contains(venue.Logs, r => r.Message.Contains("keep-alive failed", StringComparison.OrdinalIgnoreCase) && r.Message.Contains("503", StringComparison.Ordinal));
        venue.AssertNoSecrets();
    }

    [Fact]
    [Trait("Invariant", "ListenKey.K4")]
    public async Task Connect_attempt_at_the_end_of_the_keys_lifetime_gets_a_new_key_whichever_of_it_and_the_timer_runs_first()
    {
        await using var venue = new ListenKeyVenue();
        await venue.Source.GetEndpointAsync(Attempt(1), CancellationToken.None);
        venue.RefuseKeepAlive(500);
        venue.Clock.Advance(TimeSpan.FromMinutes(30)); // keep-alive fails: the key is not extended
        venue.Clock.Advance(TimeSpan.FromMinutes(29));
        var stillAlive = await venue.Source.GetEndpointAsync(Attempt(2), CancellationToken.None);

        venue.Clock.Advance(TimeSpan.FromMinutes(1)); // 60 min: expired (the timer's tick races this attempt; both take the gate)
        var renewed = await venue.Source.GetEndpointAsync(Attempt(3), CancellationToken.None);

        Assert.EndsWith("/KEY-1", stillAlive.Uri.AbsolutePath, StringComparison.Ordinal);
        Assert.EndsWith("/KEY-2", renewed.Uri.AbsolutePath, StringComparison.Ordinal);
        Assert.Equal(2, venue.Posts);
        Assert.Equal(2, venue.Source.Generation);
    }

    [Theory]
    [InlineData(401)]
    [InlineData(403)]
    public async Task Obtain_refused_for_the_API_key_is_Auth_and_Permanent_without_secrets(int status)
    {
        await using var venue = new ListenKeyVenue();
        venue.RefuseObtain(status);

        var error = await Assert.ThrowsAsync<TransportException>(() => venue.Source.GetEndpointAsync(Attempt(1), CancellationToken.None).AsTask());

        Assert.Equal(TransportErrorKind.Auth, error.Kind);
        Assert.Equal(status, error.HttpStatus);
        Assert.Equal(FailureClass.Permanent, DefaultFailureClassifier.Instance.Classify(error));
        venue.AssertNoSecrets(error.Message, error.ToString());
    }

    [Fact]
    public async Task Obtain_answered_503_with_Retry_After_is_Transient_and_carries_the_wait()
    {
        await using var venue = new ListenKeyVenue();
        venue.RefuseObtain(503, retryAfter: "7");

        var error = await Assert.ThrowsAsync<TransportException>(() => venue.Source.GetEndpointAsync(Attempt(1), CancellationToken.None).AsTask());

        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.Equal(503, error.HttpStatus);
        Assert.Equal(TimeSpan.FromSeconds(7), error.RetryAfter);
        Assert.Equal(FailureClass.Transient, DefaultFailureClassifier.Instance.Classify(error));
    }

    [Fact]
    public void Invalid_options_fail_naming_the_field()
    {
        var options = new ListenKeyOptions { StreamBaseUri = new Uri("wss://stream.venue.example/ws"), ApiKey = () => "k", KeyLifetime = TimeSpan.FromMinutes(20) };

        var error = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);

        Assert.Equal(nameof(ListenKeyOptions.KeyLifetime), error.ParamName);
        Assert.Equal(nameof(ListenKeyOptions.StreamBaseUri), Assert.Throws<ArgumentException>(new ListenKeyOptions { ApiKey = () => "k" }.Validate).ParamName);
    }

    [Fact]
    [Trait("Invariant", "ListenKey.K1")]
    [Trait("Invariant", "ListenKey.K5")]
    public async Task Through_the_stack_every_attempt_uses_the_current_key_and_no_log_shows_it()
    {
        await using var venue = new ListenKeyVenue();
        var leaf = new ScriptedConnector();
        var first = leaf.Next.Succeeds();
        leaf.Next.Fails(TransportException.HandshakeRejected(401)); // the stream refuses KEY-1 on the reconnect
        leaf.Next.Succeeds();
        var connector = new WebSocketTransportBuilder()
            .Configure(o => o
                .WithName("listen-key")
                .WithUri("wss://stream.venue.example:9443/ws")
                .WithBackoff(TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(20), useJitter: false)
                .WithConnectTimeout(TimeSpan.FromSeconds(30)) // bounds the REST call too: generous for a loaded machine
                .WithPermanentRetries(2))
            .UseLeaf(leaf)
            .WithEndpointProvider(venue.Source)
            .WithLoggerFactory(venue.Loggers)
            .Build();

        await using var connection = connector.Start();
        await connection.Lifecycle.WaitAsync(s => s.IsUp).AsTask().WaitAsync(ListenKeyVenue.Bound);
        first.Disconnect();
        var resumed = await connection.Lifecycle.WaitAsync(s => s.Phase == ConnectionPhase.Resumed).AsTask().WaitAsync(ListenKeyVenue.Bound);
        await connection.Control.ShutdownAsync().WaitAsync(ListenKeyVenue.Bound);

        Assert.Equal(1, resumed.Epoch);
        Assert.Equal(["/ws/KEY-1", "/ws/KEY-1", "/ws/KEY-2"], leaf.Handshakes.Select(h => h.Uri.AbsolutePath));
        Assert.All(leaf.Handshakes, h => Assert.EndsWith("/ws/***", h.ToString(), StringComparison.Ordinal));
        Assert.Contains(venue.Logs, r => r.Category?.StartsWith("Transport", StringComparison.Ordinal) == true); // the stack logged through the same factory
        venue.AssertNoSecrets(resumed.ToString(), resumed.LastError?.ToString());
    }
}
