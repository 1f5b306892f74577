using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Transport.IntegrationTests.Hosting;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Secrets;

/// <summary>
/// ADR 0018 over real sockets: the handshake through a handler the transport made (or could change)
/// records no <c>System.Net.Http.HttpRequestOut</c> span and no <c>HttpHandlerDiagnosticListener</c>
/// event, and the transport's HttpClient logs nothing of its own; a primary handler the transport
/// cannot change is named once in a warning.
/// </summary>
public sealed class PlatformSpanTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    public static TheoryData<LeafKind, string> Wirings() => LeafKinds.Cross("builder", "host", "host with the app's SocketsHttpHandler");

    [Theory]
    [MemberData(nameof(Wirings))]
    [Trait("Invariant", "Handshakes.H1")]
    public async Task H1_the_transports_own_handlers_make_no_platform_HTTP_span(LeafKind leaf, string wiring)
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.WaitForCloseAsync();
        });
        using var platform = new PlatformHttpTelemetry();
        var logs = new CapturingLoggerProvider();

        await using (var connector = await ConnectorAsync(wiring, leaf, server.WebSocketUri, logs))
        {
            await using var connection = connector.Connector.Start();
            await connection.Lifecycle.WaitUntilUpAsync().AsTask().WaitAsync(Bound);
            await connection.Control.ShutdownAsync().WaitAsync(Bound);
        }

        Assert.Equal(1, server.ConnectionCount);
        Assert.Equal(0, platform.Spans);
        Assert.Equal(0, platform.DiagnosticEvents);
        Assert.DoesNotContain(logs.Lines, l => l.Category.StartsWith("System.Net.Http.HttpClient", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.Line.Contains(" Attempt: ", StringComparison.Ordinal)); // the transport's own redacted handshake line
    }

    [Fact]
    public async Task A_primary_handler_the_transport_cannot_change_is_named_once_in_a_warning()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.WaitForCloseAsync();
        });
        var logs = new CapturingLoggerProvider();
        await using var host = await ConnectorAsync("host with the app's HttpClientHandler", LeafKind.Pipelines, server.WebSocketUri, logs);
        await using var connection = host.Connector.Start();
        await connection.Lifecycle.WaitUntilUpAsync().AsTask().WaitAsync(Bound);
        connection.Control.ReconnectTrigger.ForceReconnect("second handshake");
        await connection.Lifecycle.WaitAsync(s => s.Epoch == 1 && s.IsUp).AsTask().WaitAsync(Bound);
        await connection.Control.ShutdownAsync().WaitAsync(Bound);

        var warning = Assert.Single(logs.Lines, l => l.Category == "Transport.WebSockets.Hosting");
        Assert.StartsWith("Warning HandshakeSpanKept", warning.Line, StringComparison.Ordinal);
        Assert.Contains("HttpClientHandler", warning.Line, StringComparison.Ordinal);
        Assert.Contains("ActivityHeadersPropagator = null", warning.Line, StringComparison.Ordinal);
    }

    private static async Task<OwnedConnector> ConnectorAsync(string wiring, LeafKind leaf, Uri uri, CapturingLoggerProvider logs)
    {
        if (wiring == "builder")
        {
            var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
            var connector = new WebSocketTransportBuilder()
                .Configure(o => o.WithUri(uri))
                .WithLoggerFactory(loggers)
                .UseLeafKind(leaf)
                .Build();
            return new OwnedConnector(connector, loggers);
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(logs);
        var transport = builder.Services.AddWebSocketTransport("feed", o => { o.Uri = uri; o.Leaf = leaf; });
        if (wiring.EndsWith("SocketsHttpHandler", StringComparison.Ordinal))
        {
            transport.ConfigureHttpClient(http => http.ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false }));
        }
        else if (wiring.EndsWith("HttpClientHandler", StringComparison.Ordinal))
        {
            transport.ConfigureHttpClient(http => http.ConfigurePrimaryHttpMessageHandler(() => new HttpClientHandler { UseProxy = false }));
        }

        var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);
        return new OwnedConnector(host.Services.GetRequiredKeyedService<IReconnectingConnector>("feed"), host);
    }

    private sealed class OwnedConnector(IReconnectingConnector connector, IDisposable owner) : IAsyncDisposable
    {
        public IReconnectingConnector Connector { get; } = connector;

        public async ValueTask DisposeAsync()
        {
            if (owner is IHost host)
            {
                await host.StopAsync().WaitAsync(Bound);
            }

            owner.Dispose();
        }
    }

    /// <summary>Counts what System.Net.Http records for requests: HttpRequestOut activities and DiagnosticListener events.</summary>
    private sealed class PlatformHttpTelemetry : IDisposable, IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
    {
        private readonly ActivityListener _listener;
        private readonly IDisposable _all;
        private IDisposable? _http;
        private int _spans;
        private int _events;

        public PlatformHttpTelemetry()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = s => s.Name == "System.Net.Http",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStarted = a => Interlocked.Increment(ref _spans),
            };
            ActivitySource.AddActivityListener(_listener);
            _all = DiagnosticListener.AllListeners.Subscribe(this);
        }

        public int Spans => Volatile.Read(ref _spans);

        public int DiagnosticEvents => Volatile.Read(ref _events);

        public void Dispose()
        {
            _listener.Dispose();
            _all.Dispose();
            _http?.Dispose();
        }

        public void OnNext(DiagnosticListener value)
        {
            if (value.Name == "HttpHandlerDiagnosticListener")
            {
                _http = value.Subscribe(this, static (_, _, _) => true);
            }
        }

        public void OnNext(KeyValuePair<string, object?> value) => Interlocked.Increment(ref _events);

        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }
    }
}
