using Microsoft.Extensions.Logging.Abstractions;
using Transport.Mock;
using Transport.WebSockets.Connection;
using Transport.WebSockets.Lifecycle;
using Transport.WebSockets.Liveness;
using Transport.WebSockets.Telemetry;

namespace Transport.Tests.Liveness;

/// <summary>The idle watch of one session, stepped with a manual clock and pumped spawn.</summary>
public sealed class LivenessWatchTests : IDisposable
{
    private static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DeadAfter = TimeSpan.FromSeconds(30);

    private readonly ManualTimeProvider _clock = new();
    private readonly ManualSpawner _spawner = new();
    private readonly LifecyclePublisher _lifecycle;
    private readonly ConnectionTelemetry _telemetry;
    private readonly PhaseMachine _phases;
    private readonly List<TransportException> _dead = [];

    public LivenessWatchTests()
    {
        _lifecycle = new LifecyclePublisher(_spawner, NullLogger.Instance);
        _telemetry = new ConnectionTelemetryFactory().Create("liveness-test", _clock, () => 0, () => 0, () => 0);
        _phases = new PhaseMachine(_lifecycle, _telemetry, NullLogger.Instance, "liveness-test", strict: true);
        _phases.Connected(0, 1, _clock.GetUtcNow());
    }

    public void Dispose() => _telemetry.Dispose();

    private ConnectionPhase Phase => _lifecycle.Current.Phase;

    private LivenessWatch Watch(TimeSpan? staleAfter, TimeSpan? deadAfter) =>
        new(new LivenessOptions { StaleAfter = staleAfter, DeadAfter = deadAfter }, LeafCapabilities.SurfacesPings | LeafCapabilities.SurfacesPongs, _clock, _phases, (error, _) => _dead.Add(error));

    private Task Run(LivenessWatch watch, CancellationToken cancellationToken = default)
    {
        var task = _spawner.Spawn(() => watch.RunAsync(cancellationToken));
        _spawner.RunUntilIdle();
        return task;
    }

    private void Advance(TimeSpan delta)
    {
        _clock.Advance(delta);
        _spawner.RunUntilIdle();
    }

    [Fact]
    public void Without_thresholds_the_watch_is_disabled_and_frames_track_nothing()
    {
        var watch = Watch(null, null);
        Assert.False(watch.Enabled);

        _clock.Advance(TimeSpan.FromMinutes(5));
        watch.FrameArrived(isData: true);

        // Not stamped: the idle time still counts from the session start.
        Assert.Equal(TimeSpan.FromMinutes(5), watch.Idle);
    }

    [Fact]
    [Trait("Invariant", "Liveness.L2")]
    public void Marks_stale_exactly_at_StaleAfter()
    {
        var watch = Watch(StaleAfter, null);
        Run(watch);

        Advance(StaleAfter - TimeSpan.FromTicks(1));
        Assert.Equal(ConnectionPhase.Connected, Phase);
        Assert.False(watch.IsStale);

        Advance(TimeSpan.FromTicks(1));
        Assert.Equal(ConnectionPhase.Stale, Phase);
        Assert.True(watch.IsStale);
    }

    [Fact]
    [Trait("Invariant", "Liveness.L1")]
    public void A_frame_clears_stale_and_the_next_silence_is_caught_StaleAfter_later()
    {
        var watch = Watch(StaleAfter, null);
        Run(watch);
        Advance(StaleAfter);
        Assert.Equal(ConnectionPhase.Stale, Phase);

        watch.FrameArrived(isData: true);
        Assert.Equal(ConnectionPhase.Connected, Phase);
        Assert.False(watch.IsStale);

        Advance(StaleAfter - TimeSpan.FromTicks(1));
        Assert.Equal(ConnectionPhase.Connected, Phase);
        Advance(TimeSpan.FromTicks(1));
        Assert.Equal(ConnectionPhase.Stale, Phase);
    }

    [Fact]
    [Trait("Invariant", "Liveness.L2")]
    public void Frames_keep_the_connection_fresh()
    {
        var watch = Watch(StaleAfter, DeadAfter);
        Run(watch);

        for (var i = 0; i < 20; i++)
        {
            Advance(StaleAfter - TimeSpan.FromSeconds(1));
            watch.FrameArrived(isData: true);
        }

        Assert.Equal(ConnectionPhase.Connected, Phase);
        Assert.Empty(_dead);
    }

    [Fact]
    public void Cancellation_ends_the_loop_quietly()
    {
        using var cts = new CancellationTokenSource();
        var watch = Watch(StaleAfter, DeadAfter);
        var loop = Run(watch, cts.Token);

        cts.Cancel();
        _spawner.RunUntilIdle();

        Assert.True(loop.IsCompletedSuccessfully);
        Advance(DeadAfter);
        Assert.Empty(_dead);
        Assert.Equal(ConnectionPhase.Connected, Phase);
    }

    [Fact]
    [Trait("Invariant", "Liveness.L3")]
    public void A_frame_while_fresh_publishes_nothing()
    {
        var watch = Watch(StaleAfter, DeadAfter);
        var version = _lifecycle.Current.Version;

        for (var i = 0; i < 100; i++)
        {
            watch.FrameArrived(isData: true);
        }

        Assert.Equal(version, _lifecycle.Current.Version);
    }
}
