using Microsoft.Extensions.Time.Testing;
using Transport.Mock;
using Transport.Tests.Actor;

namespace Transport.Tests.Telemetry;

/// <summary>
/// An <see cref="ActorHarness"/> (scripted connector, manual clock, pumped spawn) plus a capturing
/// logger factory and a private Meter; every connection gets a unique name so spans and
/// measurements of parallel tests never mix.
/// </summary>
internal sealed class TelemetryHarness : IDisposable
{
    private readonly ActorHarness _actor;

    private TelemetryHarness(ActorHarness actor, CapturingLoggerFactory logs, TelemetryCapture capture)
    {
        _actor = actor;
        Logs = logs;
        Capture = capture;
    }

    public ScriptedConnector Connector => _actor.Connector;

    public FakeTimeProvider Clock => _actor.Clock;

    public ManualSpawner Spawner => _actor.Spawner;

    public CapturingLoggerFactory Logs { get; }

    public TelemetryCapture Capture { get; }

    public ReconnectingConnection Connection => _actor.Connection;

    public string Name => Capture.ConnectionName;

    public LifecycleSnapshot Now => _actor.Now;

    public MockSocket Socket => _actor.Socket;

    public static TelemetryHarness Start(
        Action<TransportOptionsBuilder>? configure = null,
        Action<ScriptedConnector>? script = null,
        IAuthSource? auth = null,
        string uri = "ws://venue.test/ws")
    {
        var name = "conn-" + Guid.NewGuid().ToString("N");
        var logs = new CapturingLoggerFactory();
        var capture = new TelemetryCapture(name);
        var actor = ActorHarness.Start(
            o =>
            {
                o.WithName(name).WithUri(uri);
                configure?.Invoke(o);
            },
            script,
            auth,
            builder: b => b.WithLoggerFactory(logs).WithMeter(capture.Meter));
        return new TelemetryHarness(actor, logs, capture);
    }

    public void Pump() => _actor.Pump();

    public void Advance(TimeSpan delta) => _actor.Advance(delta);

    public IReadOnlyList<string> EventNames => [.. Logs.Entries.Select(e => e.EventId.Name ?? string.Empty)];

    public void Shutdown()
    {
        var task = _actor.ShutdownAsync();
        Assert.True(task.IsCompletedSuccessfully, "Shutdown did not complete after pumping.");
    }

    public void Dispose() => Capture.Dispose();
}
