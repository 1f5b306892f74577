using Microsoft.Extensions.Time.Testing;
using Transport.Mock;

namespace Transport.Tests.Mock;

/// <summary>
/// Why <see cref="ManualTimeProvider"/> is still shipped next to the documented
/// <see cref="FakeTimeProvider"/>: the differences, pinned down so a FakeTimeProvider upgrade that
/// changes them shows up here (ADR 0003).
/// </summary>
public sealed class FakeTimeProviderTests
{
    [Fact]
    public void A_zero_due_timer_fires_inside_CreateTimer_on_FakeTimeProvider_but_waits_for_the_next_advance_on_ManualTimeProvider()
    {
        var fake = new FakeTimeProvider();
        var manual = new ManualTimeProvider();
        var fakeFired = 0;
        var manualFired = 0;

        using var a = fake.CreateTimer(_ => fakeFired++, null, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        using var b = manual.CreateTimer(_ => manualFired++, null, TimeSpan.Zero, Timeout.InfiniteTimeSpan);

        Assert.Equal(1, fakeFired);
        Assert.Equal(0, manualFired);
        manual.Advance(TimeSpan.Zero);
        Assert.Equal(1, manualFired);
    }

    [Fact]
    public void Inside_one_long_advance_a_FakeTimeProvider_callback_sees_the_end_instant_a_ManualTimeProvider_callback_its_due_instant()
    {
        var start = MockHarness.DefaultStart;
        var fake = new FakeTimeProvider(start);
        var manual = new ManualTimeProvider(start);
        var fakeSaw = new List<DateTimeOffset>();
        var manualSaw = new List<DateTimeOffset>();

        using var a = fake.CreateTimer(_ => fakeSaw.Add(fake.GetUtcNow()), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        using var b = manual.CreateTimer(_ => manualSaw.Add(manual.GetUtcNow()), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        fake.Advance(TimeSpan.FromSeconds(10));
        manual.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal([start.AddSeconds(10)], fakeSaw);
        Assert.Equal([start.AddSeconds(1)], manualSaw);
    }

    [Fact]
    public async Task The_stack_runs_on_FakeTimeProvider_backoff_waits_exactly_by_its_clock()
    {
        var (connector, clock, spawner) = MockHarness.Create();
        connector.FailNext(1, TransportException.Connection("refused"));
        var connection = new Transport.WebSockets.WebSocketTransportBuilder()
            .Configure(o => o.WithUri("ws://venue.test/ws").WithBackoff(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2), useJitter: false))
            .UseLeaf(connector).WithTimeProvider(clock).WithSpawner(spawner)
            .Build().Start();
        spawner.RunUntilIdle();
        Assert.Equal(1, connector.Attempts);

        clock.Advance(TimeSpan.FromMilliseconds(1999));
        spawner.RunUntilIdle();
        Assert.Equal(1, connector.Attempts);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        spawner.RunUntilIdle();

        Assert.Equal(2, connector.Attempts);
        Assert.Equal(ConnectionPhase.Connected, connection.Lifecycle.Current.Phase);
                await spawner.RunUntilCompleted(connection.DisposeAsync());
    }
}
