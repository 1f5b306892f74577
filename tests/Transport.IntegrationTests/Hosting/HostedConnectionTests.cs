using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Transport.IntegrationTests.Secrets;
using Transport.Testing;
using Transport.WebSockets;
using Transport.WebSockets.Hosting;

namespace Transport.IntegrationTests.Hosting;

/// <summary>A venue message (JSON over the loopback server).</summary>
/// <param name="Symbol">The instrument.</param>
/// <param name="Price">The price.</param>
public sealed record VenueTick(string Symbol, decimal Price);

[JsonSerializable(typeof(VenueTick))]
internal sealed partial class VenueJson : JsonSerializerContext;

/// <summary>
/// Issue 23, hosting as .NET users expect, in a Generic Host over a real loopback server: a connection
/// the host owns (started before the app's hosted services, stopped after them with a close handshake,
/// a keyed service), its health check, <c>BindConfiguration(sectionPath)</c>, and an app worker reading
/// typed JSON and watching the lifecycle. Every wait is on a condition, bounded.
/// </summary>
public sealed class HostedConnectionTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    public static TheoryData<bool, bool> Orders() => new() { { true, false }, { false, false }, { true, true }, { false, true } };

    [Theory]
    [MemberData(nameof(Orders))]
    [Trait("Invariant", "Hosted.S1")]
    public async Task S1_the_connection_starts_before_the_apps_hosted_services_whatever_the_order(bool appRegisteredFirst, bool waitUntilUp)
    {
        await using var server = await LoopbackServer.StartAsync(GreetThenWaitAsync);
        var probe = new StartProbe();
        var builder = HostBuilder(server.WebSocketUri);
        if (appRegisteredFirst)
        {
            builder.Services.AddHostedService(sp => new ProbeService(sp, probe));
        }

        builder.Services.AddWebSocketTransport("feed").BindConfiguration("Transports:feed")
            .AddHostedConnection(o => o.StartTimeout = waitUntilUp ? Bound : null);
        if (!appRegisteredFirst)
        {
            builder.Services.AddHostedService(sp => new ProbeService(sp, probe));
        }

        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);

        Assert.True(probe.StartedBeforeApp, "The hosted connection was not started when the app's StartAsync ran.");
        if (waitUntilUp)
        {
            Assert.True(probe.PhaseSeenByApp is ConnectionPhase.Connected, $"With StartTimeout the app's StartAsync saw {probe.PhaseSeenByApp}.");
        }

        await host.Services.GetRequiredKeyedService<ReconnectingConnection>("feed").Lifecycle.WaitUntilUpAsync().AsTask().WaitAsync(Bound);
        await host.StopAsync().WaitAsync(Bound);
        Assert.Equal(1, server.ConnectionCount);
    }

    [Fact]
    [Trait("Invariant", "Hosted.S2")]
    public async Task S2_the_keyed_connection_is_the_one_the_host_starts_and_stops()
    {
        await using var server = await LoopbackServer.StartAsync(GreetThenWaitAsync);
        var builder = HostBuilder(server.WebSocketUri);
        builder.Services.AddWebSocketTransport("feed").BindConfiguration("Transports:feed").AddHostedConnection();
        builder.Services.AddSingleton<KeyedConsumer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<KeyedConsumer>());
        using var host = builder.Build();

        await host.StartAsync().WaitAsync(Bound);
        var consumer = host.Services.GetRequiredService<KeyedConsumer>(); // constructor-injected before the host started
        var keyed = host.Services.GetRequiredKeyedService<ReconnectingConnection>("feed");
        Assert.Same(keyed, consumer.Connection);
        Assert.Same(keyed, host.Services.GetRequiredKeyedService<ReconnectingConnection>("feed"));
        Assert.Equal("feed", keyed.Name);
        Assert.Equal("hello 1", (await FirstFrameAsync(keyed)).GetText());

        await host.StopAsync().WaitAsync(Bound);

        Assert.Equal(ConnectionPhase.Closed, keyed.Lifecycle.Current.Phase);
        Assert.Equal(1, server.ConnectionCount); // one connection for every resolution
    }

    [Fact]
    [Trait("Invariant", "Hosted.S3")]
    public async Task S3_host_stop_closes_the_connection_after_the_apps_services_with_a_close_handshake()
    {
        var received = new ConcurrentQueue<string>();
        var closed = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            while (true)
            {
                var message = await s.ReceiveAsync();
                if (message.Type == WebSocketMessageType.Close)
                {
                    received.Enqueue("<close>");
                    closed.TrySetResult(message.CloseStatus);
                    await s.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                    return;
                }

                received.Enqueue(message.Text);
            }
        });
        var logs = new CapturingLoggerProvider();
        var builder = HostBuilder(server.WebSocketUri, logs);
        builder.Services.AddHostedService(sp => new FarewellService(sp)); // registered first: stopped last by the host
        builder.Services.AddWebSocketTransport("feed").BindConfiguration("Transports:feed").AddHostedConnection(o => o.StartTimeout = Bound);
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);
        var connection = host.Services.GetRequiredKeyedService<ReconnectingConnection>("feed");

        await host.StopAsync().WaitAsync(Bound);

        Assert.Equal(1000, await closed.Task.WaitAsync(Bound));
        Assert.Equal(["unsubscribe", "<close>"], received); // the app's last send went out before the close
        Assert.Equal(ConnectionPhase.Closed, connection.Lifecycle.Current.Phase);
        var lines = logs.Lines.Where(l => l.Category == "Transport.WebSockets.Hosting").Select(l => l.Line).ToList();
        Assert.Contains(lines, l => l.StartsWith("Information HostedStarted: Hosted connection feed: started with the host.", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("Information HostedStopped: Hosted connection feed: stopped with the host (Closed", StringComparison.Ordinal));
    }

    public static TheoryData<string> StartFailures() => ["401", "stalled handshake"];

    [Theory]
    [MemberData(nameof(StartFailures))]
    [Trait("Invariant", "Hosted.S4")]
    public async Task S4_StartTimeout_fails_the_host_start_when_the_connection_ends_or_the_bound_runs_out(string failure)
    {
        await using var server = await LoopbackServer.StartAsync(s => failure == "401" ? s.RejectAsync(401) : s.StallHandshake());
        var builder = HostBuilder(server.WebSocketUri);
        var appStarted = false;
        builder.Services.AddWebSocketTransport("feed").BindConfiguration("Transports:feed")
            .AddHostedConnection(o => o.StartTimeout = failure == "401" ? Bound : TimeSpan.FromMilliseconds(300));
        builder.Services.AddHostedService(_ => new DelegateService(() => appStarted = true));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<TransportException>(() => host.StartAsync().WaitAsync(Bound));

        Assert.False(appStarted, "The app's hosted service started although the connection did not come up.");
        if (failure == "401")
        {
            Assert.Equal(TransportErrorKind.Auth, error.Kind);
            Assert.Equal(401, error.HttpStatus);
            Assert.StartsWith("Hosted connection feed ended Unrecoverable before it was up (phase Unrecoverable, attempts 3, last error Auth http=401).", error.Message, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(TransportErrorKind.Timeout, error.Kind);
            Assert.StartsWith("Hosted connection feed was not up within StartTimeout (00:00:00.3000000) (phase Connecting, attempts 1", error.Message, StringComparison.Ordinal);
        }

        await host.StopAsync().WaitAsync(Bound);
    }

    [Fact]
    public async Task The_health_check_follows_the_connection_and_carries_its_facts_but_no_secret()
    {
        var secrets = new SecretSet();
        await using var server = await LoopbackServer.StartAsync(s => s.Number == 1 ? GreetThenWaitAsync(s) : s.RejectAsync(503));
        var builder = HostBuilder(secrets.EndpointOn(server.WebSocketUri));
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Transports:feed:SensitivePathSegments:0"] = "-1" });
        builder.Services.AddWebSocketTransport("feed").BindConfiguration("Transports:feed").WithAuth(_ => secrets.AuthSource())
            .AddHostedConnection(o => o.StartTimeout = Bound);
        builder.Services.AddHealthChecks().AddWebSocketConnection("feed", tags: ["ready"]);
        using var host = builder.Build();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var scanner = new SecretScanner(secrets);

        var before = await EntryAsync(health);
        Assert.Equal(HealthStatus.Degraded, before.Status);
        Assert.Equal("feed: not started (the host has not started yet).", before.Description);

        await host.StartAsync().WaitAsync(Bound);
        var connection = host.Services.GetRequiredKeyedService<ReconnectingConnection>("feed");
        var up = await EntryAsync(health);
        Assert.Equal(HealthStatus.Healthy, up.Status);
        Assert.Equal("Connected", up.Data["phase"]);
        Assert.Equal(["ready"], up.Tags);
        scanner.Scan("health entry (up)", up);

        (await server.WaitForConnectionAsync(1)).Abort(); // every later handshake is answered 503
        await connection.Lifecycle.WaitAsync(s => s.Phase == ConnectionPhase.Reconnecting && s.LastError?.HttpStatus == 503).AsTask().WaitAsync(Bound);
        var down = await EntryAsync(health);
        Assert.Equal(HealthStatus.Degraded, down.Status);
        Assert.Equal(503, down.Data["lastError.httpStatus"]);
        Assert.IsType<DateTimeOffset>(down.Data["downSince"]);
        scanner.Scan("health entry (reconnecting)", down);

        await host.StopAsync().WaitAsync(Bound);
        var stopped = await EntryAsync(health);
        Assert.Equal(HealthStatus.Unhealthy, stopped.Status);
        Assert.Equal("Closed", stopped.Data["phase"]);
        scanner.Scan("health entry (closed)", stopped);
        Assert.Empty(scanner.Hits);
    }

    [Fact]
    public async Task A_health_check_for_a_name_that_is_not_hosted_says_how_to_register_it()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddWebSocketTransport("feed", o => o.Uri = new Uri("ws://127.0.0.1:1/ws"));
        builder.Services.AddHealthChecks().AddWebSocketConnection("feed");
        using var host = builder.Build();

        var entry = await EntryAsync(host.Services.GetRequiredService<HealthCheckService>());

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal("No hosted connection named 'feed': register it with services.AddWebSocketTransport(\"feed\").AddHostedConnection().", entry.Description);
    }

    [Fact]
    public async Task BindConfiguration_by_section_path_binds_the_apps_configuration()
    {
        var builder = HostBuilder(new Uri("ws://127.0.0.1:1/ws"));
        builder.Services.AddWebSocketTransport("feed").BindConfiguration("Transports:feed");
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);

        var options = host.Services.GetRequiredService<IReconnectingConnectorFactory>().Get("feed") is ReconnectingConnector c ? c.Options : null;

        Assert.Equal(new Uri("ws://127.0.0.1:1/ws"), options?.Uri);
        Assert.Equal(TimeSpan.FromMilliseconds(50), options?.Reconnect.MinBackoff);
        Assert.Equal(TimeSpan.FromSeconds(1), options?.CloseTimeout);
        await host.StopAsync().WaitAsync(Bound);
    }

    [Fact]
    public async Task BindConfiguration_of_a_missing_section_fails_the_start_naming_the_path()
    {
        var builder = HostBuilder(new Uri("ws://127.0.0.1:1/ws"));
        builder.Services.AddWebSocketTransport("feed").BindConfiguration("Transport:feed"); // a typo: Transport, not Transports
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Bound));

        Assert.Contains("WebSocket transport 'feed': the configuration section 'Transport:feed' does not exist (BindConfiguration).", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hosted_worker_reads_typed_JSON_skips_a_bad_frame_it_is_told_of_and_watches_the_lifecycle()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.SendAsync("""{"Symbol":"BTC-USD","Price":100.5}""");
            await s.SendAsync("""{"Symbol":"BTC-USD","Price":"oops"}""");
            await s.SendAsync("""{"Symbol":"ETH-USD","Price":3.25}""");
            await s.WaitForCloseAsync();
        });
        var builder = HostBuilder(server.WebSocketUri);
        builder.Services.AddWebSocketTransport("feed").BindConfiguration("Transports:feed").AddHostedConnection();
        builder.Services.AddSingleton<TickWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TickWorker>());
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);
        var connection = host.Services.GetRequiredKeyedService<ReconnectingConnection>("feed");
        var phases = new List<ConnectionPhase>();
        var watching = Task.Run(async () =>
        {
            await foreach (var s in connection.Lifecycle.WatchAsync())
            {
                phases.Add(s.Phase);
            }
        });
        var worker = host.Services.GetRequiredService<TickWorker>();

        await worker.SecondTick.Task.WaitAsync(Bound);
        await connection.Lifecycle.WaitUntilUpAsync().AsTask().WaitAsync(Bound);
        await host.StopAsync().WaitAsync(Bound);
        await watching.WaitAsync(Bound);

        Assert.Equal([new VenueTick("BTC-USD", 100.5m), new VenueTick("ETH-USD", 3.25m)], worker.Ticks);
        var invalid = Assert.Single(worker.Invalid);
        Assert.Equal((0L, "$.Price"), (invalid.Epoch, invalid.Path));
        Assert.Equal(ConnectionPhase.Closed, phases[^1]);
        Assert.Contains(ConnectionPhase.Connected, phases);
    }

    private static async Task<HealthReportEntry> EntryAsync(HealthCheckService health) =>
        (await health.CheckHealthAsync().WaitAsync(Bound)).Entries["websocket:feed"];

    private static async Task GreetThenWaitAsync(ServerSession session)
    {
        await session.AcceptAsync();
        await session.SendAsync("hello " + session.Number);
        await session.WaitForCloseAsync();
    }

    private static async Task<Frame> FirstFrameAsync(ReconnectingConnection connection)
    {
        Assert.True(await connection.Source.WaitToReadAsync().AsTask().WaitAsync(Bound));
        Assert.True(connection.Source.TryRead(out var frame));
        return frame;
    }

    private static HostApplicationBuilder HostBuilder(Uri uri, CapturingLoggerProvider? logs = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Transports:feed:Uri"] = uri.ToString(),
            ["Transports:feed:Reconnect:MinBackoff"] = "00:00:00.050",
            ["Transports:feed:Reconnect:MaxBackoff"] = "00:00:00.200",
            ["Transports:feed:Reconnect:UseJitter"] = "false",
            ["Transports:feed:CloseTimeout"] = "00:00:01",
        });
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddProvider(logs);
        }

        return builder;
    }

    /// <summary>What the app's hosted service saw when the host started it.</summary>
    private sealed class StartProbe
    {
        public bool StartedBeforeApp { get; set; }

        public ConnectionPhase? PhaseSeenByApp { get; set; }
    }

    /// <summary>An app service that looks, without starting anything, whether the hosted connection runs when it starts.</summary>
    private sealed class ProbeService(IServiceProvider services, StartProbe probe) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            var started = services.GetRequiredKeyedService<HostedConnectionOwner>("feed").Started;
            probe.StartedBeforeApp = started is not null;
            probe.PhaseSeenByApp = started?.Lifecycle.Current.Phase;
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Takes the connection in its constructor, as a worker would.</summary>
    private sealed class KeyedConsumer([FromKeyedServices("feed")] ReconnectingConnection connection) : IHostedService
    {
        public ReconnectingConnection Connection { get; } = connection;

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Sends a last command when the host stops.</summary>
    private sealed class FarewellService(IServiceProvider services) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StopAsync(CancellationToken cancellationToken) =>
            await services.GetRequiredKeyedService<ReconnectingConnection>("feed").Sink.SendTextAsync("unsubscribe", cancellationToken: cancellationToken);
    }

    private sealed class DelegateService(Action onStart) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            onStart();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>The app's worker: typed JSON from the hosted connection, bad frames counted, never lost.</summary>
    private sealed class TickWorker([FromKeyedServices("feed")] ReconnectingConnection connection) : BackgroundService
    {
        public List<VenueTick> Ticks { get; } = [];

        public List<FrameJsonException> Invalid { get; } = [];

        public TaskCompletionSource SecondTick { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                await foreach (var tick in connection.Source.ReadJsonAsync(VenueJson.Default.VenueTick, (_, error) => Invalid.Add(error), stoppingToken))
                {
                    Ticks.Add(tick);
                    if (Ticks.Count == 2)
                    {
                        SecondTick.TrySetResult();
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // The host is stopping.
            }
        }
    }
}
