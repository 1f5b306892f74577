using Microsoft.Extensions.Logging;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Telemetry;

namespace Transport.WebSockets.Connection;

/// <summary>
/// Publishes the ring's cumulative lag count. Evictions can happen once per frame under a flood;
/// publishing a snapshot for each would put allocation and observer work on the hot path. Instead
/// one publication is scheduled through the spawner, and it reads the ring's cumulative count when
/// it runs (lossless: TotalLagged is cumulative).
/// </summary>
internal sealed class LagReporter
{
    private readonly DropOldestRing _ring;
    private readonly PhaseMachine _phases;
    private readonly ISpawner _spawner;
    private readonly ILogger _logger;
    private readonly string _name;
    private int _pending;

    public LagReporter(DropOldestRing ring, PhaseMachine phases, ISpawner spawner, ILogger logger, string name)
    {
        _ring = ring;
        _phases = phases;
        _spawner = spawner;
        _logger = logger;
        _name = name;
    }

    /// <summary>Schedules one publication unless one is already pending; any thread.</summary>
    public void Schedule()
    {
        if (Interlocked.Exchange(ref _pending, 1) != 0)
        {
            return;
        }

        _ = _spawner.Spawn(() =>
        {
            Volatile.Write(ref _pending, 0);
            var lagged = _ring.TotalLagged;
            if (_phases.Current.TotalLagged != lagged)
            {
                Log.Lagged(_logger, _name, lagged);
            }

            _phases.Update(s => s.TotalLagged == lagged ? s : s with { TotalLagged = lagged });
            return Task.CompletedTask;
        });
    }
}
