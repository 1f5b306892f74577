using VenueSimulator;

namespace ConsoleSubscriber;

/// <summary>
/// The in-process simulator the subscriber uses when no <c>--url</c> is given, tuned so a
/// minute of watching shows something: a lifetime short enough to see rotation (binance), a
/// topic going silent every few seconds (ibkr), and with <c>--chaos</c> random drops and stalls.
/// </summary>
internal sealed class EmbeddedVenue : IAsyncDisposable
{
    /// <summary>The simulator's inbound limit; the adapters pace under it.</summary>
    public const int InboundMessagesPerSecond = 5;

    /// <summary>Default connection lifetime (<c>--venue-lifetime</c> changes it): the binance adapter rotates at three quarters of it.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(20);

    private static readonly TimeSpan ExpireEvery = TimeSpan.FromSeconds(7);

    private readonly CancellationTokenSource _stop = new();
    private Task _mischief = Task.CompletedTask;

    private EmbeddedVenue(VenueSimulatorHost host) => Host = host;

    public VenueSimulatorHost Host { get; }

    public static async Task<EmbeddedVenue> StartAsync(SubscriberSettings settings, Action<string> log)
    {
        var options = new SimulatorOptions
        {
            Topics = [.. settings.Topics],
            TickInterval = TimeSpan.FromMilliseconds(100),
            InboundMessagesPerSecond = InboundMessagesPerSecond,
            MaxConnectionLifetime = settings.VenueLifetime ?? Lifetime,
            SnapshotBytes = 16 * 1024, // reconcile snapshots stay readable; the 2 MiB default is for transport tests
            ServerPingInterval = TimeSpan.FromSeconds(5),
            ExpectedToken = settings.Token,
            // Redundant legs deduplicate by (topic, seq): the venue must number its ticks, not each connection.
            VenueSequences = settings.Legs is not null,
            Chaos = new ChaosOptions
            {
                Enabled = settings.Chaos,
                DropProbability = 0.08,
                StallProbability = 0.04,
                StallDuration = TimeSpan.FromSeconds(4),
            },
            Log = log,
        };
        var venue = new EmbeddedVenue(await VenueSimulatorHost.StartAsync(options).ConfigureAwait(false));
        // Only the ibkr adapter has a staleness timer; against binance a silent topic would stay silent until rotation.
        if (settings.Venue == "ibkr" && settings.Legs is null) venue._mischief = venue.ExpireTopicsAsync(settings.Topics, log);
        return venue;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _mischief.ConfigureAwait(false);
        await Host.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    // IBKR-style: now and then a topic silently stops; the adapter must notice and resubscribe it.
    private async Task ExpireTopicsAsync(IReadOnlyList<string> topics, Action<string> log)
    {
        using var timer = new PeriodicTimer(ExpireEvery);
        var next = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                var topic = topics[next++ % topics.Count];
                log($"simulator: {topic} goes silent");
                Host.ExpireTopic(topic);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
