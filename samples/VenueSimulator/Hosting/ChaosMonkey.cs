using VenueSimulator.Sessions;

namespace VenueSimulator.Hosting;

/// <summary>
/// Rolls dice every <see cref="ChaosOptions.Interval"/> for each live session: abort it, or
/// stall it. Sessions are visited in id order so a seeded run makes the same choices.
/// </summary>
internal sealed class ChaosMonkey
{
    private readonly ChaosOptions _options;
    private readonly Random _random;
    private readonly Func<IEnumerable<ClientSession>> _sessions;

    public ChaosMonkey(ChaosOptions options, int? seed, Func<IEnumerable<ClientSession>> sessions)
    {
        _options = options;
        _random = seed is { } s ? new Random(unchecked(s * 17 + 1)) : new Random();
        _sessions = sessions;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var session in _sessions().OrderBy(s => s.Id))
                {
                    if (_random.NextDouble() < _options.DropProbability) session.Abort(DisconnectReason.ChaosDropped);
                    else if (_random.NextDouble() < _options.StallProbability) session.Stall(_options.StallDuration);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Simulator stopping.
        }
    }
}
