namespace Transport.Mock;

/// <summary>
/// Builds the three test doubles a deterministic stack test needs, so a test starts with one line:
/// <c>var (connector, clock, spawner) = MockHarness.Create();</c>
/// </summary>
public static class MockHarness
{
    /// <summary>Creates a scripted connector, a manual clock and a manually pumped spawner.</summary>
    /// <param name="start">The clock's starting instant (default <see cref="ManualTimeProvider.DefaultStart"/>).</param>
    /// <returns>The connector, the clock and the spawner.</returns>
    public static (ScriptedConnector Connector, ManualTimeProvider Clock, ManualSpawner Spawner) Create(DateTimeOffset? start = null) =>
        (new ScriptedConnector(), new ManualTimeProvider(start), new ManualSpawner());
}
