using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Secrets;

/// <summary>
/// Issue 25: the one redaction test every change must pass. A connection is run as a user runs it
/// (the plain builder, or the Generic Host registration with the README's set-up) over each built-in
/// leaf, through a session that succeeds (with a forced reconnect: two handshakes), a handshake
/// rejected with 401 (Unrecoverable after the permanent retries), and a port that refuses. Credentials
/// sit in every place a venue puts them (<see cref="SecretSet"/>): a bearer token, an API-key header
/// from configuration, a header named in <c>SensitiveNames</c>, a cookie, a query parameter and a path
/// segment marked with <c>WithSensitivePathSegments(-1)</c>. Everything the process exports
/// (<see cref="TelemetryCapture"/>: logs of every category at Trace with their state and scopes walked
/// recursively, every activity, every DiagnosticListener event, every metric's tags) and every
/// exception the caller sees (thrown, or as <c>LastError</c>, with inner exceptions) and every
/// <c>ToString()</c> the transport offers is scanned; the test fails on any hit and lists each one.
/// </summary>
/// <remarks>
/// Two wirings apply the app-side settings the README's "Secrets" section asks for when the app brings
/// its own HTTP plumbing: an HttpClient registered elsewhere (<c>UseHttpClient</c>) and an
/// <c>HttpMessageInvoker</c> handed to the plain builder. They prove those settings are sufficient.
/// </remarks>
public sealed class SecretsNeverLeakTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    /// <summary>How the connection is assembled.</summary>
    public enum Wiring
    {
        /// <summary><c>new WebSocketTransportBuilder()</c> with a logger factory, the leaf's own HTTP handler.</summary>
        Builder,

        /// <summary>The plain builder with an <c>HttpMessageInvoker</c> of the app's (the README's TLS/proxy set-up) and the README's app-side setting.</summary>
        BuilderWithAppInvoker,

        /// <summary><c>AddWebSocketTransport</c> under the Generic Host, bound from configuration, the transport's own HttpClient.</summary>
        Host,

        /// <summary>As <see cref="Host"/>, with the app's primary handler on the transport's HttpClient (<c>ConfigureHttpClient</c>, the README's set-up).</summary>
        HostWithAppPrimaryHandler,

        /// <summary>As <see cref="Host"/>, through an HttpClient the app registered itself (<c>UseHttpClient</c>) with the README's app-side settings.</summary>
        HostWithSharedHttpClient,

        /// <summary>As <see cref="Host"/>, the connection owned by the host (<c>AddHostedConnection</c>) with its health check, which is scanned too.</summary>
        HostedConnection,
    }

    /// <summary>What the server does.</summary>
    public enum Run
    {
        /// <summary>Accepts, greets, echoes; the client forces one reconnect (two handshakes), then shuts down.</summary>
        Success,

        /// <summary>Answers every handshake 401: Unrecoverable after the permanent retries.</summary>
        Rejected401,

        /// <summary>Nothing listens: connection refused, retried until the test shuts down.</summary>
        RefusedPort,
    }

    public static TheoryData<Wiring, LeafKind, Run> Cases()
    {
        var data = new TheoryData<Wiring, LeafKind, Run>();
        foreach (var wiring in Enum.GetValues<Wiring>())
        {
            foreach (var leaf in LeafKinds.Values)
            {
                foreach (var run in Enum.GetValues<Run>())
                {
                    data.Add(wiring, leaf, run);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task No_secret_reaches_a_log_a_scope_a_span_a_metric_an_error_or_a_ToString(Wiring wiring, LeafKind leaf, Run run)
    {
        var secrets = new SecretSet();
        using var capture = new TelemetryCapture(secrets);
        await using var server = run switch
        {
            Run.Success => await LoopbackServer.StartAsync(GreetAndEchoAsync),
            Run.Rejected401 => await LoopbackServer.StartAsync(s => s.RejectAsync(401)),
            _ => null,
        };
        var endpoint = secrets.EndpointOn(server?.WebSocketUri ?? RefusingEndpoint());

        await using (var stack = await StackUnderTest.StartAsync(wiring, leaf, endpoint, secrets, capture))
        {
            capture.Scanner.Scan("connector Options.ToString()", stack.Connector is ReconnectingConnector built ? built.Options.ToString() : null);
            var connection = stack.Hosted ?? stack.Connector.Start();
            using var snapshots = connection.Lifecycle.Subscribe(new SnapshotScanner(capture.Scanner));
            switch (run)
            {
                case Run.Success:
                    await RunSuccessAsync(connection, capture.Scanner);
                    break;
                case Run.Rejected401:
                    await RunRejectedAsync(connection, capture.Scanner);
                    break;
                default:
                    await RunRefusedAsync(connection, capture.Scanner);
                    break;
            }

            capture.Scanner.Scan("connection.ToString()", connection.ToString());
            capture.Scanner.Scan("connection.Session", connection.Session);
            capture.Scanner.Scan("Lifecycle.Current", connection.Lifecycle.Current);
            capture.RecordObservableInstruments();
            if (stack.Health is { } health)
            {
                capture.Scanner.Scan("health report", await health.CheckHealthAsync().WaitAsync(Bound));
            }
        }

        capture.RecordObservableInstruments();

        // Not vacuous: the secrets went out on the wire, and the capture saw the transport's own output.
        if (server is not null)
        {
            var sent = server.Handshakes[0];
            Assert.Equal("/ws/" + secrets.PathSegment.Value, sent.Path);
            Assert.Equal("Bearer " + secrets.Bearer.Value, sent.Headers["Authorization"]);
            Assert.Equal(secrets.ApiKey.Value, sent.Headers[SecretSet.ApiKeyHeader]);
            Assert.Equal(secrets.Named.Value, sent.Headers[SecretSet.NamedHeader]);
            Assert.Equal(secrets.Cookie.Value, sent.Cookies[SecretSet.CookieName]);
            Assert.Contains(secrets.Query.Value, sent.QueryString, StringComparison.Ordinal);
        }

        var seen = string.Join(", ", capture.Seen.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}: {p.Value}"));
        Assert.True(capture.Seen.Keys.Any(k => k.StartsWith("log Transport.WebSockets.Connection.", StringComparison.Ordinal)), "No log line of the transport was captured. Seen: " + seen);
        Assert.True(capture.Seen.Keys.Any(k => k.StartsWith("activity Transport.WebSockets", StringComparison.Ordinal)), "No span of the transport was captured. Seen: " + seen);
        Assert.True(capture.Seen.Keys.Any(k => k.StartsWith("measurement Transport.WebSockets", StringComparison.Ordinal)), "No measurement of the transport was captured. Seen: " + seen);

        var hits = capture.Scanner.Hits;
        Assert.True(hits.Count == 0, $"{hits.Count} secret(s) leaked ({wiring}, {leaf}, {run}):\n  " + string.Join("\n  ", hits) + "\nSeen: " + seen);
    }

    private static async Task RunSuccessAsync(ReconnectingConnection connection, SecretScanner scanner)
    {
        var up = await connection.Lifecycle.WaitUntilUpAsync().AsTask().WaitAsync(Bound);
        Assert.Equal(0, up.Epoch);
        Assert.Equal("hello", (await ReadAsync(connection)).GetText());
        await connection.Sink.SendTextAsync("ping").AsTask().WaitAsync(Bound);
        Assert.Equal("ping", (await ReadAsync(connection)).GetText());
        scanner.Scan("connection.Session (epoch 0)", connection.Session);

        connection.Control.ReconnectTrigger.ForceReconnect("rotate");
        await connection.Lifecycle.WaitAsync(s => s.Epoch == 1 && s.IsUp).AsTask().WaitAsync(Bound);
        Assert.Equal("hello", (await ReadAsync(connection)).GetText());
        await connection.Control.ShutdownAsync().WaitAsync(Bound);
        await connection.Lifecycle.Completion.WaitAsync(Bound);
    }

    private static async Task RunRejectedAsync(ReconnectingConnection connection, SecretScanner scanner)
    {
        var final = await connection.Lifecycle.WaitAsync(s => s.IsTerminal).AsTask().WaitAsync(Bound);
        Assert.Equal(ConnectionPhase.Unrecoverable, final.Phase);
        Assert.Equal(401, final.LastError?.HttpStatus);
        scanner.Scan("LastError (401)", final.LastError);

        var fromSource = await Assert.ThrowsAsync<TransportException>(async () =>
        {
            await foreach (var _ in connection.Source.WithCancellation(CancellationToken.None))
            {
            }
        }).WaitAsync(Bound);
        scanner.Scan("exception thrown by Source", fromSource);
        var fromWait = await Assert.ThrowsAnyAsync<Exception>(() => connection.Lifecycle.WaitUntilUpAsync().AsTask()).WaitAsync(Bound);
        scanner.Scan("exception thrown by WaitUntilUpAsync", fromWait);
        var fromSend = await Assert.ThrowsAnyAsync<Exception>(() => connection.Sink.SendTextAsync("late").AsTask()).WaitAsync(Bound);
        scanner.Scan("exception thrown by SendAsync", fromSend);
    }

    private static async Task RunRefusedAsync(ReconnectingConnection connection, SecretScanner scanner)
    {
        var failing = await connection.Lifecycle.WaitAsync(s => s.Attempts >= 3 && s.LastError is not null).AsTask().WaitAsync(Bound);
        Assert.Equal(TransportErrorKind.Connection, failing.LastError!.Kind);
        scanner.Scan("LastError (refused)", failing.LastError);

        var send = connection.Sink.SendTextAsync("queued while down").AsTask();
        await connection.Control.ShutdownAsync().WaitAsync(Bound);
        await connection.Lifecycle.Completion.WaitAsync(Bound);
        scanner.Scan("exception of a send queued while down", await Assert.ThrowsAnyAsync<Exception>(() => send).WaitAsync(Bound));
        scanner.Scan("exception thrown by WaitUntilUpAsync", await Assert.ThrowsAnyAsync<Exception>(() => connection.Lifecycle.WaitUntilUpAsync().AsTask()).WaitAsync(Bound));
    }

    private static async Task<Frame> ReadAsync(ReconnectingConnection connection)
    {
        Assert.True(await connection.Source.WaitToReadAsync().AsTask().WaitAsync(Bound));
        Assert.True(connection.Source.TryRead(out var frame));
        return frame;
    }

    private static async Task GreetAndEchoAsync(ServerSession session)
    {
        await session.AcceptAsync();
        await session.SendAsync("hello");
        await session.EchoAsync();
    }

    private static Uri RefusingEndpoint()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return new Uri($"ws://127.0.0.1:{port}/ws");
    }

    /// <summary>Scans every snapshot published (its <c>ToString()</c>, its fields, its <c>LastError</c>).</summary>
    private sealed class SnapshotScanner(SecretScanner scanner) : IObserver<LifecycleSnapshot>
    {
        public void OnCompleted()
        {
        }

        public void OnError(Exception error) => scanner.Scan("lifecycle OnError", error);

        public void OnNext(LifecycleSnapshot value)
        {
            scanner.ScanText("snapshot.ToString()", value.ToString());
            scanner.Scan("snapshot", value);
        }
    }

    /// <summary>The connector under test, assembled as <see cref="Wiring"/> says, with everything it owns.</summary>
    private sealed class StackUnderTest : IAsyncDisposable
    {
        private IHost? _host;
        private ILoggerFactory? _loggers;
        private HttpMessageInvoker? _invoker;

        public IReconnectingConnector Connector { get; private set; } = null!;

        /// <summary>The host's connection (<see cref="Wiring.HostedConnection"/>), else null.</summary>
        public ReconnectingConnection? Hosted { get; private set; }

        /// <summary>The health checks (<see cref="Wiring.HostedConnection"/>), else null.</summary>
        public HealthCheckService? Health { get; private set; }

        public static async Task<StackUnderTest> StartAsync(Wiring wiring, LeafKind leaf, Uri endpoint, SecretSet secrets, TelemetryCapture capture)
        {
            var stack = new StackUnderTest();
            if (wiring is Wiring.Builder or Wiring.BuilderWithAppInvoker)
            {
                stack._loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(capture.Logs));
                if (wiring == Wiring.BuilderWithAppInvoker)
                {
                    // The README's "Secrets" setting for an invoker the app owns: no platform span of the handshake.
                    stack._invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false, ActivityHeadersPropagator = null });
                }

                stack.Connector = new WebSocketTransportBuilder()
                    .Configure(o => o.WithUri(endpoint)
                        .WithSensitivePathSegments(-1)
                        .WithSensitiveNames(SecretSet.NamedHeader)
                        .WithHeader(SecretSet.ApiKeyHeader, secrets.ApiKey.Value)
                        .WithBackoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50), useJitter: false)
                        .WithCloseTimeout(TimeSpan.FromSeconds(1)))
                    .WithAuth(secrets.AuthSource())
                    .WithLoggerFactory(stack._loggers)
                    .UseLeafKind(leaf, stack._invoker)
                    .Build();
                return stack;
            }

            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Transports:feed:Uri"] = endpoint.ToString(),
                ["Transports:feed:Leaf"] = leaf.ToString(),
                ["Transports:feed:SensitivePathSegments:0"] = "-1",
                ["Transports:feed:SensitiveNames:0"] = SecretSet.NamedHeader,
                ["Transports:feed:Headers:" + SecretSet.ApiKeyHeader] = secrets.ApiKey.Value,
                ["Transports:feed:Reconnect:MinBackoff"] = "00:00:00.010",
                ["Transports:feed:Reconnect:MaxBackoff"] = "00:00:00.050",
                ["Transports:feed:Reconnect:UseJitter"] = "false",
                ["Transports:feed:CloseTimeout"] = "00:00:01",
            });
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
            builder.Logging.AddProvider(capture.Logs);
            builder.Services.AddMetrics();
            var transport = builder.Services.AddWebSocketTransport("feed")
                .BindConfiguration(builder.Configuration.GetSection("Transports:feed"))
                .WithAuth(_ => secrets.AuthSource());
            switch (wiring)
            {
                case Wiring.HostWithAppPrimaryHandler:
                    transport.ConfigureHttpClient(http => http.ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false }));
                    break;
                case Wiring.HostWithSharedHttpClient:
                    // The README's "Secrets" settings for an HttpClient the app registered itself.
                    builder.Services.AddHttpClient("venue")
                        .RemoveAllLoggers()
                        .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false, ActivityHeadersPropagator = null });
                    transport.UseHttpClient("venue");
                    break;
                case Wiring.HostedConnection:
                    transport.AddHostedConnection();
                    builder.Services.AddHealthChecks().AddWebSocketConnection("feed");
                    break;
            }

            stack._host = builder.Build();
            await stack._host.StartAsync().WaitAsync(Bound);
            stack.Connector = stack._host.Services.GetRequiredKeyedService<IReconnectingConnector>("feed");
            if (wiring == Wiring.HostedConnection)
            {
                stack.Hosted = stack._host.Services.GetRequiredKeyedService<ReconnectingConnection>("feed");
                stack.Health = stack._host.Services.GetRequiredService<HealthCheckService>();
            }

            return stack;
        }

        public async ValueTask DisposeAsync()
        {
            if (_host is not null)
            {
                await _host.StopAsync().WaitAsync(Bound);
                _host.Dispose();
            }

            _loggers?.Dispose();
            _invoker?.Dispose();
        }
    }
}
