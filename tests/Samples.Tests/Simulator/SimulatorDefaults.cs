using VenueSimulator;

namespace Samples.Tests.Simulator;

/// <summary>Options that make the simulator fast and quiet for tests; each test adds its twist.</summary>
internal static class SimulatorDefaults
{
    public const string Btc = "BTC-USD";
    public const string Eth = "ETH-USD";

    public static SimulatorOptions Fast(Action<SimulatorOptions>? tweak = null)
    {
        var options = new SimulatorOptions
        {
            Topics = new List<string> { Btc, Eth },
            TickInterval = TimeSpan.FromMilliseconds(5),
            Seed = 42,
            ServerPingInterval = null,
            InboundMessagesPerSecond = 1000,
            MaxConnectionLifetime = null,
            CloseHandshakeTimeout = TimeSpan.FromSeconds(5),
        };
        tweak?.Invoke(options);
        return options;
    }

    public static Task<VenueSimulatorHost> StartAsync(Action<SimulatorOptions>? tweak = null) =>
        VenueSimulatorHost.StartAsync(Fast(tweak));

    /// <summary>Waits (bounded) until the simulator's counters satisfy <paramref name="condition"/>.</summary>
    public static Task WaitForStatsAsync(this VenueSimulatorHost host, Func<SimulatorStats, bool> condition) =>
        host.Stats.WaitUntilAsync(condition).WaitAsync(SimClient.Bound);
}
