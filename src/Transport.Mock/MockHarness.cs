using Microsoft.Extensions.Time.Testing;

namespace Transport.Mock;

/// <summary>
/// Builds the three test doubles a deterministic stack test needs, so a test starts with one line:
/// <c>var (connector, clock, spawner) = MockHarness.Create();</c>
/// </summary>
/// <remarks>
/// The clock is <see cref="FakeTimeProvider"/> (Microsoft.Extensions.TimeProvider.Testing), the
/// clock .NET tests already use: the whole stack (backoff, connect and close timeouts, liveness,
/// pacing, the attempt-rate window) runs on it under the <see cref="ManualSpawner"/>; the actor
/// suite in this repository runs on it. <see cref="CreateWithManualClock"/> gives the
/// <see cref="ManualTimeProvider"/> instead, for the few things <see cref="FakeTimeProvider"/> cannot
/// do (inspecting armed timers, deferring a zero-due timer to the next advance; see
/// <see cref="ManualTimeProvider"/>).
/// </remarks>
public static class MockHarness
{
    /// <summary>The default starting instant of either clock: 2026-01-01T00:00:00Z.</summary>
    public static DateTimeOffset DefaultStart => ManualTimeProvider.DefaultStart;

    /// <summary>Creates a scripted connector, a <see cref="FakeTimeProvider"/> and a manually pumped spawner.</summary>
    /// <param name="start">The clock's starting instant (default <see cref="DefaultStart"/>).</param>
    /// <returns>The connector, the clock and the spawner.</returns>
    public static (ScriptedConnector Connector, FakeTimeProvider Clock, ManualSpawner Spawner) Create(DateTimeOffset? start = null) =>
        (new ScriptedConnector(), new FakeTimeProvider((start ?? DefaultStart).ToUniversalTime()), new ManualSpawner());

    /// <summary>
    /// Creates a scripted connector, a <see cref="ManualTimeProvider"/> and a manually pumped spawner:
    /// for tests that count armed timers (<see cref="ManualTimeProvider.ActiveTimerCount"/>), jump to
    /// the next due timer (<see cref="ManualTimeProvider.NextDueTime"/>), or need a zero-due timer to
    /// wait for the next advance instead of firing inside <c>CreateTimer</c>.
    /// </summary>
    /// <param name="start">The clock's starting instant (default <see cref="DefaultStart"/>).</param>
    /// <returns>The connector, the clock and the spawner.</returns>
    public static (ScriptedConnector Connector, ManualTimeProvider Clock, ManualSpawner Spawner) CreateWithManualClock(DateTimeOffset? start = null) =>
        (new ScriptedConnector(), new ManualTimeProvider(start), new ManualSpawner());
}
