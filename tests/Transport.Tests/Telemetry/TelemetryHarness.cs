using Transport.Mock;
using Transport.WebSockets;

namespace Transport.Tests.Telemetry;

/// <summary>
/// ActorHarness's pattern (scripted connector, manual clock, pumped spawn) plus a capturing logger
/// factory and a private Meter; every connection gets a unique name so spans and measurements of
/// parallel tests never mix.
/// </summary>
internal sealed class TelemetryHarness : IDisposable
{
    private TelemetryHarness(ScriptedConnector connector, ManualTimeProvider clock, ManualSpawner spawner, CapturingLoggerFactory logs, TelemetryCapture capture, ReconnectingConnection connection)
    {
        Connector = connector;
        Clock = clock;
        Spawner = spawner;
        Logs = logs;
        Capture = capture;
        Connection = connection;
    }

    public ScriptedConnector Connector { get; }

    public ManualTimeProvider Clock { get; }

    public ManualSpawner Spawner { get; }

    public CapturingLoggerFactory Logs { get; }

    public TelemetryCapture Capture { get; }

    public ReconnectingConnection Connection { get; }

    public string Name => Capture.ConnectionName;

    public LifecycleSnapshot Now => Connection.Lifecycle.Current;

    public MockSocket Socket => Connector.Current ?? throw new InvalidOperationException("No socket handed out yet.");

    public static TelemetryHarness Start(
        Action<TransportOptionsBuilder>? configure = null,
        Action<ScriptedConnector>? script = null,
        IAuthSource? auth = null,
        string uri = "ws://venue.test/ws")
    {
        var (connector, clock, spawner) = MockHarness.Create();
        script?.Invoke(connector);
        var name = "conn-" + Guid.NewGuid().ToString("N");
        var logs = new CapturingLoggerFactory();
        var capture = new TelemetryCapture(name);
        var builder = new WebSocketTransportBuilder()
            .Configure(o =>
            {
                o.WithName(name)
                 .WithUri(uri)
                 .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), useJitter: false)
                 .WithConnectTimeout(TimeSpan.FromSeconds(5))
                 .WithCloseTimeout(TimeSpan.FromSeconds(2));
                configure?.Invoke(o);
            })
            .UseLeaf(connector)
            .WithTimeProvider(clock)
            .WithSpawner(spawner)
            .WithRandom(() => 0.5)
            .WithLoggerFactory(logs)
            .WithMeter(capture.Meter);
        if (auth is not null)
        {
            builder.WithAuth(auth);
        }

        var connection = builder.Build().ConnectAsync().AsTask().GetAwaiter().GetResult();
        var harness = new TelemetryHarness(connector, clock, spawner, logs, capture, connection);
        harness.Pump();
        return harness;
    }

    public void Pump() => Spawner.RunUntilIdle();

    public void Advance(TimeSpan delta)
    {
        Clock.Advance(delta);
        Pump();
    }

    public IReadOnlyList<string> EventNames => [.. Logs.Entries.Select(e => e.EventId.Name ?? string.Empty)];

    public void Shutdown()
    {
        var task = Connection.Control.ShutdownAsync();
        Pump();
        Assert.True(task.IsCompletedSuccessfully, "Shutdown did not complete after pumping.");
    }

    public void Dispose() => Capture.Dispose();
}
