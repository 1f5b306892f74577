using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Hosting;

/// <summary>
/// The DI registration inside a Generic Host over a real loopback server: options from
/// IConfiguration validated at start, the handshake through the named HttpClient's handlers,
/// auth from the container, the connector through the factory and as a keyed service.
/// </summary>
public sealed class HostingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Host_built_from_configuration_connects_and_receives_a_frame()
    {
        await using var server = await LoopbackServer.StartAsync(GreetAsync);
        using var host = BuildHost(Config(server.WebSocketUri, ("Headers:X-Client", "hosting-test")), t => { });
        await host.StartAsync().WaitAsync(Bound);

        var factory = host.Services.GetRequiredService<IReconnectingConnectorFactory>();
        var connector = factory.Get("feed");
        Assert.Same(connector, factory.Get("feed"));
        Assert.Same(connector, host.Services.GetRequiredKeyedService<IReconnectingConnector>("feed"));
        var options = Assert.IsType<ReconnectingConnector>(connector).Options;
        Assert.Equal("feed", options.Name);
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.Reconnect.MinBackoff);

        using var measured = new FrameMeasurements(host.Services.GetRequiredService<IMeterFactory>());
        await using var connection = await connector.ConnectAsync();
        var frame = await FirstFrameAsync(connection);

        Assert.Equal("hello 1", frame.GetText());
        Assert.Equal("hosting-test", server.Handshakes[0].Headers["X-Client"]);
        Assert.Equal(1, measured.FramesFor("feed")); // on the Meter from the host's IMeterFactory
        await connection.Control.ShutdownAsync().WaitAsync(Bound);
        await host.StopAsync().WaitAsync(Bound);
    }

    [Theory]
    [InlineData("Reconnect:MaxBackoff", "00:00:00.010", "Reconnect.MaxBackoff")]
    [InlineData("Uri", "", "Uri: is required")]
    [InlineData("Uri", "http://127.0.0.1:1/ws", "Uri: must be an absolute ws://")]
    [InlineData("Liveness:StaleAfter", "00:00:30", "Liveness.StaleAfter")]
    public async Task Invalid_configuration_fails_host_start_naming_the_field(string key, string value, string expected)
    {
        var config = Config(new Uri("ws://127.0.0.1:1/ws"), (key, value), ("Liveness:DeadAfter", "00:00:10"));
        using var host = BuildHost(config, t => { });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Bound));

        Assert.Equal("feed", error.OptionsName);
        Assert.Contains(error.Failures, f => f.Contains(expected, StringComparison.Ordinal) && f.Contains("'feed'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Handshake_goes_through_the_named_HttpClient_handlers_on_every_attempt()
    {
        await using var server = await LoopbackServer.StartAsync(GreetAsync);
        var counter = new HandshakeCounter();
        var primaryCreated = 0;
        using var host = BuildHost(Config(server.WebSocketUri), t => t.ConfigureHttpClient(http => http
            .ConfigurePrimaryHttpMessageHandler(() =>
            {
                Interlocked.Increment(ref primaryCreated);
                return new SocketsHttpHandler { UseProxy = false };
            })
            .AddHttpMessageHandler(() => new CountingHandler(counter))));
        await host.StartAsync().WaitAsync(Bound);

        await using var connection = await host.Services.GetRequiredService<IReconnectingConnectorFactory>().Get("feed").ConnectAsync();
        Assert.Equal("hello 1", (await FirstFrameAsync(connection)).GetText());
        Assert.Equal(1, counter.Count);
        Assert.Equal("/ws", counter.LastPath);

        // Session.S9: a frame is read only after its socket's up-edge, so the forced end hits an up session
        // and the next up-edge is Resumed on epoch 1.
        AssertUpOn(connection, 0);
        connection.Control.ReconnectTrigger.ForceReconnect("test");
        await connection.Lifecycle.WaitAsync(s => s.Epoch == 1 && s.IsUp).AsTask().WaitAsync(Bound);
        Assert.Equal("hello 2", (await FirstFrameAsync(connection)).GetText());

        Assert.Equal(2, counter.Count);
        Assert.True(Volatile.Read(ref primaryCreated) >= 1, "The configured primary handler was not used.");
        await connection.Control.ShutdownAsync().WaitAsync(Bound);
    }

    [Fact]
    public async Task Auth_source_from_the_container_is_called_per_attempt_and_no_token_is_logged()
    {
        await using var server = await LoopbackServer.StartAsync(GreetAsync);
        var logs = new CapturingLoggerProvider();
        using var host = BuildHost(Config(server.WebSocketUri), t => t.WithAuth<RotatingTokenAuth>(), services =>
        {
            services.AddSingleton<TokenStore>();
            services.AddSingleton<RotatingTokenAuth>();
        }, logs);
        await host.StartAsync().WaitAsync(Bound);
        var tokens = host.Services.GetRequiredService<TokenStore>();
        var auth = host.Services.GetRequiredService<RotatingTokenAuth>();

        await using var connection = await host.Services.GetRequiredService<IReconnectingConnectorFactory>().Get("feed").ConnectAsync();
        await FirstFrameAsync(connection);
        tokens.Current = "token-2"; // rotated between connections
        AssertUpOn(connection, 0); // as above: the frame came after the edge
        connection.Control.ReconnectTrigger.ForceReconnect("rotate");
        await connection.Lifecycle.WaitAsync(s => s.Epoch == 1 && s.IsUp).AsTask().WaitAsync(Bound);
        await FirstFrameAsync(connection);
        await connection.Control.ShutdownAsync().WaitAsync(Bound);
        await host.StopAsync().WaitAsync(Bound);

        Assert.Equal(2, auth.Calls);
        Assert.Equal("Bearer token-1", server.Handshakes[0].Headers["Authorization"]);
        Assert.Equal("Bearer token-2", server.Handshakes[1].Headers["Authorization"]);
        Assert.Equal("?token=token-2", server.Handshakes[1].QueryString);

        var lines = logs.Lines;
        var seen = string.Join('\n', lines.Select(l => $"{l.Category}: {l.Line}"));
        Assert.True(lines.Any(l => l.Category.StartsWith("Transport.WebSockets.Connection.feed", StringComparison.Ordinal) && l.Line.Contains("Resumed", StringComparison.Ordinal)), seen);
        Assert.False(lines.Any(l => l.Category.StartsWith("System.Net.Http.HttpClient", StringComparison.Ordinal)), seen); // the transport's HttpClient has no logging handlers (ADR 0018)
        Assert.All(lines, l => Assert.DoesNotContain("token-", l.Line, StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_name_is_refused()
    {
        using var host = BuildHost(Config(new Uri("ws://127.0.0.1:1/ws")), t => { });

        var error = Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredService<IReconnectingConnectorFactory>().Get("other"));
        Assert.Contains("'other'", error.Message, StringComparison.Ordinal);
    }

    private static async Task GreetAsync(ServerSession session)
    {
        await session.AcceptAsync();
        await session.SendAsync("hello " + session.Number);
        await session.WaitForCloseAsync();
    }

    private static void AssertUpOn(ReconnectingConnection connection, long epoch)
    {
        var seen = connection.Lifecycle.Current;
        Assert.True(seen.IsUp && seen.Epoch == epoch, $"a frame was read, yet the lifecycle shows {seen}");
    }

    private static async Task<Frame> FirstFrameAsync(ReconnectingConnection connection)
    {
        Assert.True(await connection.Source.WaitToReadAsync().AsTask().WaitAsync(Bound));
        Assert.True(connection.Source.TryRead(out var frame));
        return frame;
    }

    private static Dictionary<string, string?> Config(Uri uri, params (string Key, string Value)[] extra)
    {
        var config = new Dictionary<string, string?>
        {
            ["Transports:feed:Uri"] = uri.ToString(),
            ["Transports:feed:Reconnect:MinBackoff"] = "00:00:00.050",
            ["Transports:feed:Reconnect:MaxBackoff"] = "00:00:01",
            ["Transports:feed:Reconnect:UseJitter"] = "false",
            ["Transports:feed:CloseTimeout"] = "00:00:01",
        };
        foreach (var (key, value) in extra)
        {
            config["Transports:feed:" + key] = value;
        }

        return config;
    }

    private static IHost BuildHost(
        Dictionary<string, string?> config,
        Action<IWebSocketTransportBuilder> transport,
        Action<IServiceCollection>? services = null,
        CapturingLoggerProvider? logs = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
            builder.Logging.AddProvider(logs);
        }

        builder.Services.AddMetrics();
        services?.Invoke(builder.Services);
        var registration = builder.Services.AddWebSocketTransport("feed")
            .BindConfiguration(builder.Configuration.GetSection("Transports:feed"));
        transport(registration);
        return builder.Build();
    }

    /// <summary>Counts frames.received on Meters created by one IMeterFactory, per connection tag.</summary>
    private sealed class FrameMeasurements : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _frames = [];

        public FrameMeasurements(IMeterFactory factory)
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == TransportTelemetry.FramesReceived)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == TransportTelemetry.ConnectionTag && tag.Value is string name)
                    {
                        lock (_frames)
                        {
                            _frames[name] = _frames.GetValueOrDefault(name) + value;
                        }
                    }
                }
            });
            _listener.Start();
        }

        public long FramesFor(string name)
        {
            lock (_frames)
            {
                return _frames.GetValueOrDefault(name);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
