using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Transport.WebSockets;

/// <summary>
/// The health of one reconnecting connection, from its lifecycle snapshot: Healthy while up
/// (Connected, Resumed), Degraded while not up but still trying (Connecting, Reconnecting) or Stale (up,
/// no data for StaleAfter), and the registration's failure status (Unhealthy by default) once terminal
/// (Unrecoverable, Closed). Register a hosted connection's with
/// <c>services.AddHealthChecks().AddWebSocketConnection(name)</c>, or any connection's with
/// <c>AddCheck(name, new ConnectionHealthCheck(connection))</c>.
/// </summary>
/// <remarks>
/// Health.C1 the status follows the phase as above (C1_status_follows_the_phase).
/// Health.C2 the description is the snapshot's <c>ToString()</c> and the data its facts (phase, epoch,
/// attempts, lagged, exhausted, since when down or up, the last outage, the last error's kind, HTTP
/// status and close code): levels and counts, never a message, URI or header
/// (C2_data_carries_the_snapshots_facts_and_no_message_text).
/// </remarks>
public sealed class ConnectionHealthCheck : IHealthCheck
{
    private readonly string _name;
    private readonly Func<LifecycleSnapshot?> _current;

    /// <summary>A check of <paramref name="connection"/>.</summary>
    /// <param name="connection">The connection.</param>
    public ConnectionHealthCheck(ReconnectingConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _name = connection.Name;
        _current = () => connection.Lifecycle.Current;
    }

    /// <summary>A check of whatever <paramref name="current"/> returns (null: not started yet, Degraded).</summary>
    internal ConnectionHealthCheck(string name, Func<LifecycleSnapshot?> current)
    {
        _name = name;
        _current = current;
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Task.FromResult(_current() is { } snapshot
            ? Evaluate(_name, snapshot, context.Registration.FailureStatus)
            : new HealthCheckResult(HealthStatus.Degraded, $"{_name}: not started (the host has not started yet)."));
    }

    /// <summary>The result for one snapshot (Health.C1, Health.C2).</summary>
    /// <param name="name">The connection's name.</param>
    /// <param name="snapshot">The snapshot.</param>
    /// <param name="failureStatus">The status of a terminal phase (the registration's; Unhealthy by default).</param>
    /// <returns>The result.</returns>
    public static HealthCheckResult Evaluate(string name, LifecycleSnapshot snapshot, HealthStatus failureStatus = HealthStatus.Unhealthy)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(snapshot);
        var status = snapshot.Phase switch
        {
            ConnectionPhase.Connected or ConnectionPhase.Resumed => HealthStatus.Healthy,
            ConnectionPhase.Unrecoverable or ConnectionPhase.Closed => failureStatus,
            _ => HealthStatus.Degraded, // Connecting, Reconnecting, Stale
        };

        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["phase"] = snapshot.Phase.ToString(),
            ["epoch"] = snapshot.Epoch,
            ["attempts"] = snapshot.Attempts,
            ["totalLagged"] = snapshot.TotalLagged,
            ["exhausted"] = snapshot.Exhausted,
            ["version"] = snapshot.Version,
        };
        if (snapshot.DownSince is { } down)
        {
            data["downSince"] = down;
        }

        if (snapshot.UpSince is { } up)
        {
            data["upSince"] = up;
        }

        if (snapshot.LastOutage is { } outage)
        {
            data["lastOutageSeconds"] = outage.TotalSeconds;
        }

        if (snapshot.LastError is { } error)
        {
            data["lastError.kind"] = error.Kind.ToString();
            if (error.HttpStatus is { } http)
            {
                data["lastError.httpStatus"] = http;
            }

            if (error.CloseCode is { } close)
            {
                data["lastError.closeCode"] = close;
            }
        }

        return new HealthCheckResult(status, $"{name}: {snapshot}", data: data);
    }
}
