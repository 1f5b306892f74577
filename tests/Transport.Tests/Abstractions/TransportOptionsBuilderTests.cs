namespace Transport.Tests.Abstractions;

public sealed class TransportOptionsBuilderTests
{
    private static TransportOptionsBuilder Valid() => new TransportOptionsBuilder().WithUri("wss://venue.example/ws");

    [Fact]
    public void Valid_options_build_into_an_independent_copy()
    {
        var builder = Valid().WithHeader("X-Client", "a");
        var built = builder.Build();

        builder.WithHeader("X-Client", "b");

        Assert.Equal("a", built.Headers["X-Client"]);
        Assert.Equal(new Uri("wss://venue.example/ws"), built.Uri);
    }

    public static TheoryData<string, Func<TransportOptionsBuilder, TransportOptionsBuilder>> BrokenRules => new()
    {
        { "Uri", b => new TransportOptionsBuilder() },
        { "Uri", b => b.WithUri("https://venue.example/ws") },
        { "Reconnect.MaxBackoff", b => b.WithBackoff(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1)) },
        { "Reconnect.ConnectTimeout", b => b.WithConnectTimeout(TimeSpan.Zero) },
        { "Reconnect.MaxAttemptsPerWindow", b => b.WithAttemptRateLimit(0, TimeSpan.FromMinutes(5)) },
        { "Receive.RingCapacityBytes", b => b.WithReceiveRing(10, 0) },
        { "Receive.RingCapacityFrames", b => b.WithReceiveRing(0, 10) },
        { "Receive.MaxMessageBytes", b => b.WithMaxMessageSize(0) },
        { "Send.CapacityBytes", b => b.WithSendQueue(10, 0) },
        { "Send.RateLimit.MaxFrames", b => b.WithSendRateLimit(0, TimeSpan.FromSeconds(1)) },
        { "Send.RateLimit.Window", b => b.WithSendRateLimit(5, TimeSpan.Zero) },
        { "Liveness.StaleAfter", b => b.WithIdleTimeouts(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5)) },
        { "Liveness.KeepAliveInterval", b => b.WithIdleTimeouts(null, TimeSpan.FromSeconds(5)).WithKeepAlive(TimeSpan.FromSeconds(5), null) },
        { "Liveness.KeepAliveTimeout", b => b.WithKeepAlive(TimeSpan.FromSeconds(1), TimeSpan.Zero) },
        { "CloseTimeout", b => b.WithCloseTimeout(TimeSpan.FromSeconds(-1)) },
        { "Send.WriteTimeout", b => b.WithWriteTimeout(TimeSpan.Zero) },
        { "Send.WriteTimeout", b => b.WithWriteTimeout(TimeSpan.FromDays(2)) },
        { "FailoverUris[1]", b => b.WithFailoverUris(new Uri("wss://b.example/ws"), new Uri("https://c.example/ws")) },
        { "Session.InitializeTimeout", b => b.WithSession(TimeSpan.Zero) },
        { "Liveness.ReconnectAfterDataSilence", b => b.WithReconnectOnDataSilence(TimeSpan.Zero) },
        { "Liveness.StaleAfter", b => b.WithIdleTimeouts(TimeSpan.FromSeconds(10), null).WithReconnectOnDataSilence(TimeSpan.FromSeconds(5)) },
        { "Session.Lifetime", b => b.WithSessionLifetime(TimeSpan.Zero) },
        { "Session.Lifetime", b => b.WithSessionLifetime(TimeSpan.FromHours(-1)) },
        { "Session.RotateBefore", b => b.WithSessionLifetime(TimeSpan.FromHours(24), TimeSpan.FromHours(24)) },
        { "Session.RotateBefore", b => b.WithSessionLifetime(TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(30)) },
        { "Session.RotateBefore", b => b.WithSessionLifetime(TimeSpan.FromHours(24), TimeSpan.Zero) },
        { "Session.RotateBefore", b => b.Configure(o => o.Session.RotateBefore = TimeSpan.FromMinutes(5)) },
    };

    [Fact]
    public void WithSessionLifetime_sets_the_lifetime_and_the_rotation_lead()
    {
        var built = Valid().WithSessionLifetime(TimeSpan.FromHours(24), rotateBefore: TimeSpan.FromMinutes(5)).Build();
        var plain = Valid().WithSessionLifetime(TimeSpan.FromSeconds(20)).Build();

        Assert.Equal(TimeSpan.FromHours(24), built.Session.Lifetime);
        Assert.Equal(TimeSpan.FromMinutes(5), built.Session.RotateBefore);
        Assert.Equal(TimeSpan.FromSeconds(20), plain.Session.Lifetime);
        Assert.Null(plain.Session.RotateBefore);
        Assert.Null(Valid().Build().Session.Lifetime);
        Assert.Equal(TimeSpan.FromHours(24), built.Clone().Session.Lifetime);
    }

    [Theory]
    [MemberData(nameof(BrokenRules))]
    public void Each_broken_rule_fails_the_build_naming_its_field(string field, Func<TransportOptionsBuilder, TransportOptionsBuilder> breakIt)
    {
        var error = Assert.Throws<TransportConfigurationException>(() => breakIt(Valid()).Build());

        Assert.Contains(error.Errors, e => e.StartsWith(field + ":", StringComparison.Ordinal));
        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(9.999)]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(86_400_000.001)]
    public void Item8_ConnectTimeout_outside_10ms_to_1_day_fails_the_build_naming_the_field(double milliseconds)
    {
        var error = Assert.Throws<TransportConfigurationException>(() => Valid().WithConnectTimeout(TimeSpan.FromMilliseconds(milliseconds)).Build());

        Assert.Equal("Reconnect.ConnectTimeout", error.ParamName);
        Assert.Contains("Reconnect.ConnectTimeout: must be between 00:00:00.0100000 and 1.00:00:00", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(86_400_000)]
    public async Task Item8_ConnectTimeout_bounds_are_inclusive_and_connect_runs(double milliseconds)
    {
        var options = Valid().WithConnectTimeout(TimeSpan.FromMilliseconds(milliseconds)).Build();

        // The bounds are Polly's: a pipeline built with them connects instead of throwing its ValidationException.
        var (connector, clock, spawner) = Transport.Mock.MockHarness.Create();
        var connection = await new Transport.WebSockets.WebSocketTransportBuilder()
            .Configure(o => o.WithUri("ws://venue.test/ws").WithConnectTimeout(options.Reconnect.ConnectTimeout))
            .UseLeaf(connector).WithTimeProvider(clock).WithSpawner(spawner)
            .Build().ConnectAsync();
        spawner.RunUntilIdle();

        Assert.Equal(ConnectionPhase.Connected, connection.Lifecycle.Current.Phase);
    }

    [Fact]
    public void Every_broken_rule_is_reported_at_once()
    {
        var error = Assert.Throws<TransportConfigurationException>(() =>
            Valid().WithBackoff(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1)).WithMaxMessageSize(0).Build());

        Assert.Equal(2, error.Errors.Count);
        Assert.Equal("Reconnect.MaxBackoff", error.ParamName);
    }

    [Fact]
    public void Probe_interval_below_the_idle_threshold_is_valid()
    {
        var options = Valid().WithIdleTimeouts(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15)).WithKeepAlive(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(2)).Build();

        Assert.Equal(TimeSpan.FromSeconds(4), options.Liveness.KeepAliveInterval);
    }

    [Fact]
    public void ToString_never_prints_header_values_or_query_secrets()
    {
        var options = new TransportOptionsBuilder().WithUri("wss://venue.example/ws?token=s3cr3t").WithHeader("X-Api-Key", "s3cr3t").Build();

        Assert.DoesNotContain("s3cr3t", options.ToString(), StringComparison.Ordinal);
    }
}
