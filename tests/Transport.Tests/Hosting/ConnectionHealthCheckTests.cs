using Microsoft.Extensions.Diagnostics.HealthChecks;
using Transport.Mock;
using Transport.WebSockets;

namespace Transport.Tests.Hosting;

/// <summary>
/// Issue 23: the health check of a connection, from its snapshot alone (pure, table-tested): Healthy up,
/// Degraded while not up but trying or Stale, the registration's failure status once terminal; the
/// snapshot's facts as data, never a message.
/// </summary>
public sealed class ConnectionHealthCheckTests
{
    public static TheoryData<ConnectionPhase, HealthStatus> Phases() => new()
    {
        { ConnectionPhase.Connecting, HealthStatus.Degraded },
        { ConnectionPhase.Connected, HealthStatus.Healthy },
        { ConnectionPhase.Stale, HealthStatus.Degraded },
        { ConnectionPhase.Reconnecting, HealthStatus.Degraded },
        { ConnectionPhase.Resumed, HealthStatus.Healthy },
        { ConnectionPhase.Unrecoverable, HealthStatus.Unhealthy },
        { ConnectionPhase.Closed, HealthStatus.Unhealthy },
    };

    [Theory]
    [MemberData(nameof(Phases))]
    [Trait("Invariant", "Health.C1")]
    public void C1_status_follows_the_phase(ConnectionPhase phase, HealthStatus expected)
    {
        var result = ConnectionHealthCheck.Evaluate("feed", LifecycleSnapshot.Initial with { Phase = phase });

        Assert.Equal(expected, result.Status);
        Assert.Equal(phase.ToString(), result.Data["phase"]);
    }

    [Fact]
    [Trait("Invariant", "Health.C1")]
    public void C1_a_terminal_phase_takes_the_registrations_failure_status()
    {
        var result = ConnectionHealthCheck.Evaluate("optional-feed", LifecycleSnapshot.Initial with { Phase = ConnectionPhase.Closed, Exhausted = true }, HealthStatus.Degraded);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal(true, result.Data["exhausted"]);
    }

    [Fact]
    [Trait("Invariant", "Health.C2")]
    public void C2_data_carries_the_snapshots_facts_and_no_message_text()
    {
        var downSince = MockHarness.DefaultStart;
        var error = new TransportException(TransportErrorKind.Connection, "message text SECRET-4f1a", httpStatus: 503, closeCode: 1011);
        var snapshot = new LifecycleSnapshot(ConnectionPhase.Reconnecting, 4, 17, downSince, 12, 30, false, error) { LastOutage = TimeSpan.FromSeconds(2.5) };

        var result = ConnectionHealthCheck.Evaluate("binance", snapshot);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal(
            new Dictionary<string, object>
            {
                ["phase"] = "Reconnecting",
                ["epoch"] = 4L,
                ["attempts"] = 12L,
                ["totalLagged"] = 30L,
                ["exhausted"] = false,
                ["version"] = 17L,
                ["downSince"] = downSince,
                ["lastOutageSeconds"] = 2.5,
                ["lastError.kind"] = "Connection",
                ["lastError.httpStatus"] = 503,
                ["lastError.closeCode"] = 1011,
            },
            result.Data.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary());
        Assert.Equal($"binance: {snapshot}", result.Description);
        Assert.DoesNotContain("SECRET", result.Description, StringComparison.Ordinal);
        Assert.DoesNotContain(result.Data.Values, v => v.ToString()!.Contains("SECRET", StringComparison.Ordinal));
        Assert.Null(result.Exception);
    }

    [Fact]
    public async Task A_check_of_a_connection_reads_its_current_snapshot()
    {
        await using var fake = new FakeReconnectingConnection("feed");
        var check = new ConnectionHealthCheck(fake.Connection);
        var context = new HealthCheckContext { Registration = new HealthCheckRegistration("websocket:feed", check, HealthStatus.Unhealthy, null) };

        Assert.Equal(HealthStatus.Degraded, (await check.CheckHealthAsync(context)).Status);
        fake.GoUp();
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(context)).Status);
        fake.Terminate(ConnectionPhase.Unrecoverable, TransportException.Auth(401));
        var final = await check.CheckHealthAsync(context);
        Assert.Equal(HealthStatus.Unhealthy, final.Status);
        Assert.Equal(401, final.Data["lastError.httpStatus"]);
    }
}
