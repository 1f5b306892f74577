using Microsoft.Extensions.Time.Testing;
using Transport.Mock;
using Transport.WebSockets;

namespace Transport.Tests.Actor;

/// <summary>
/// The full reconnecting stack over Transport.Mock: scripted connector, manual clock, pumped
/// spawn. Tests read like scripts: arrange the connector, act by advancing and pumping, assert on
/// the snapshot and on what the connector recorded.
/// </summary>
internal sealed class ActorHarness
{
    private ActorHarness(ScriptedConnector connector, FakeTimeProvider clock, ManualSpawner spawner, ReconnectingConnection connection)
    {
        Connector = connector;
        Clock = clock;
        Spawner = spawner;
        Connection = connection;
    }

    public ScriptedConnector Connector { get; }

    public FakeTimeProvider Clock { get; }

    public ManualSpawner Spawner { get; }

    public ReconnectingConnection Connection { get; }

    public LifecycleSnapshot Now => Connection.Lifecycle.Current;

    public MockSocket Socket => Connector.Current ?? throw new InvalidOperationException("No socket handed out yet.");

    /// <summary>
    /// Defaults: backoff 1 s .. 30 s without jitter, connect timeout 5 s, close timeout 2 s,
    /// StableAfter zero (every session healthy) and no attempt cap.
    /// <paramref name="script"/> runs before the actor starts, so the first attempt can be scripted.
    /// </summary>
    public static ActorHarness Start(
        Action<TransportOptionsBuilder>? configure = null,
        Action<ScriptedConnector>? script = null,
        IAuthSource? auth = null,
        IFailureClassifier? classifier = null,
        Func<double>? random = null,
        Action<WebSocketTransportBuilder>? builder = null)
    {
        var (connector, clock, spawner) = MockHarness.Create();

        // The spawner's unpumped-wait watchdog is the one real-time element of these scripts: it
        // fails a pending ShutdownAsync once nothing was pumped for UnpumpedWaitTimeout (default 5 s).
        // A test thread stalled that long between ShutdownAsync and its next pump (a loaded 2-core CI
        // runner; a concurrent test churning 1 GB of strings did it) made
        // C1_shutdown_with_a_dead_socket_completes_after_the_close_bound fail with that message. A
        // forgotten pump still fails with the message, after a bound no stall reaches.
        spawner.UnpumpedWaitTimeout = TimeSpan.FromSeconds(60);
        script?.Invoke(connector);
        var transport = new WebSocketTransportBuilder()
            .Configure(o =>
            {
                o.WithUri("ws://venue.test/ws")
                 .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), useJitter: false)
                 .WithConnectTimeout(TimeSpan.FromSeconds(5))
                 .WithCloseTimeout(TimeSpan.FromSeconds(2))
                 // Most scripts drop a session right after it opens and expect an immediate
                 // reconnect, and fail fast for many attempts: the session-health rule and the
                 // attempt cap are off here and have their own tests (Reconnect/, Actor/BudgetTests),
                 // which turn them on with the production defaults.
                 .WithStableAfter(TimeSpan.Zero)
                 .WithoutAttemptRateLimit();
                configure?.Invoke(o);
            })
            .UseLeaf(connector)
            .WithTimeProvider(clock)
            .WithSpawner(spawner)
            .WithRandom(random ?? (() => 0.5));
        if (auth is not null)
        {
            transport.WithAuth(auth);
        }

        if (classifier is not null)
        {
            transport.WithClassifier(classifier);
        }

        builder?.Invoke(transport);
        var connection = transport.Build().Start();
        var harness = new ActorHarness(connector, clock, spawner, connection);
        harness.Pump();
        return harness;
    }

    public void Pump() => Spawner.RunUntilIdle();

    /// <summary>
    /// Runs adapter code on the pumped scheduler (as an adapter sharing the actor's scheduler
    /// would), so its continuations are stepped by <see cref="Pump"/> too.
    /// </summary>
    public Task Adapter(Func<Task> work)
    {
        var task = Spawner.Spawn(work);
        Pump();
        return task;
    }

    /// <summary>
    /// Pumps, without advancing the clock, until <paramref name="condition"/> holds or
    /// <paramref name="bound"/> of real time passed (for a continuation that reaches the scheduler
    /// from another thread). Returns whether the condition held.
    /// </summary>
    public bool PumpUntil(Func<bool> condition, TimeSpan bound)
    {
        var deadline = Environment.TickCount64 + (long)bound.TotalMilliseconds;
        var spin = new SpinWait();
        while (!condition())
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }

            Pump();
            spin.SpinOnce();
        }

        return true;
    }

    public void Advance(TimeSpan delta)
    {
        Clock.Advance(delta);
        Pump();
    }

    /// <summary>Advances in small steps until <paramref name="condition"/> holds; fails after <paramref name="maxSteps"/>.</summary>
    public void AdvanceUntil(Func<bool> condition, TimeSpan step, int maxSteps = 100_000)
    {
        for (var i = 0; i < maxSteps && !condition(); i++)
        {
            Advance(step);
        }

        Assert.True(condition(), $"Condition not reached after {maxSteps} steps of {step}; now {Now}.");
    }

    /// <summary>Reads every frame buffered now.</summary>
    public List<Frame> Drain()
    {
        var frames = new List<Frame>();
        while (Connection.Source.TryRead(out var frame))
        {
            frames.Add(frame);
        }

        return frames;
    }

    public Task ShutdownAsync()
    {
        var task = Connection.Control.ShutdownAsync();
        Pump();
        return task;
    }
}
