using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Transport;
using Transport.WebSockets;
using Transport.WebSockets.DependencyInjection;
using Transport.WebSockets.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>A connection the host owns, and its health check.</summary>
public static class HostedConnectionExtensions
{
    /// <summary>
    /// Lets the host own one connection of this transport: it is started when the host starts, before
    /// any of the app's hosted services (in the host's StartingAsync phase, whatever the registration
    /// order), and shut down when the host stops, after them (the close handshake bounded by
    /// <see cref="TransportOptions.CloseTimeout"/>, cut short by the host's shutdown timeout). Resolve it
    /// as a keyed <see cref="ReconnectingConnection"/> under the transport's name
    /// (<c>[FromKeyedServices("binance")] ReconnectingConnection connection</c>); never dispose it.
    /// </summary>
    /// <param name="builder">The transport.</param>
    /// <param name="configure">Edits <see cref="HostedConnectionOptions"/> (for example a <c>StartTimeout</c>).</param>
    /// <returns>The builder.</returns>
    /// <remarks>
    /// Resolving the connection before the host starts (a hosted service's constructor) starts it then.
    /// Calling this again for the same name adds configuration, not a second connection.
    /// </remarks>
    public static IWebSocketTransportBuilder AddHostedConnection(this IWebSocketTransportBuilder builder, Action<HostedConnectionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var name = builder.Name;
        var services = builder.Services;
        if (WebSocketTransportServiceCollectionExtensions.RegistryOf(services).AddHosted(name))
        {
            services.AddOptions<HostedConnectionOptions>(name);
            services.AddKeyedSingleton<HostedConnectionOwner>(name, static (sp, key) =>
                new HostedConnectionOwner((string)key!, (ReconnectingConnectorFactory)sp.GetRequiredService<IReconnectingConnectorFactory>()));
            services.AddKeyedSingleton<ReconnectingConnection>(name, static (sp, key) => sp.GetRequiredKeyedService<HostedConnectionOwner>(key).Connection);
            services.AddSingleton<IHostedService>(sp => new HostedConnectionService(
                sp.GetRequiredKeyedService<HostedConnectionOwner>(name),
                sp.GetRequiredService<IOptionsMonitor<HostedConnectionOptions>>().Get(name),
                sp.GetService<ILoggerFactory>()?.CreateLogger(HostingLog.Category) ?? NullLogger.Instance));
        }

        if (configure is not null)
        {
            services.Configure(name, configure);
        }

        return builder;
    }

    /// <summary>
    /// Adds the health check of the hosted connection <paramref name="connectionName"/>
    /// (<see cref="ConnectionHealthCheck"/>: Healthy up; Degraded connecting, reconnecting or stale;
    /// <paramref name="failureStatus"/> once Unrecoverable or Closed; the snapshot's facts as data).
    /// </summary>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <param name="connectionName">The transport's name, registered with <c>AddHostedConnection()</c>.</param>
    /// <param name="checkName">The check's name; null: <c>"websocket:" + connectionName</c>.</param>
    /// <param name="failureStatus">The status of a terminal connection; null: Unhealthy.</param>
    /// <param name="tags">Tags to filter checks by (for example "ready").</param>
    /// <returns>The health checks builder.</returns>
    public static IHealthChecksBuilder AddWebSocketConnection(this IHealthChecksBuilder builder, string connectionName, string? checkName = null, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionName);
        return builder.Add(new HealthCheckRegistration(
            checkName ?? "websocket:" + connectionName,
            sp => sp.GetKeyedService<HostedConnectionOwner>(connectionName) is { } owner
                ? new ConnectionHealthCheck(connectionName, () => owner.Started?.Lifecycle.Current)
                : new MisconfiguredCheck($"No hosted connection named '{connectionName}': register it with services.AddWebSocketTransport(\"{connectionName}\").AddHostedConnection()."),
            failureStatus,
            tags));
    }

    // A registration mistake reported by the check itself (failure status, with the fix), rather than an
    // exception out of the health check service that would fail every check of the report.
    private sealed class MisconfiguredCheck(string problem) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, problem));
    }
}
