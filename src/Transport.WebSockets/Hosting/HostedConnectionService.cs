using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Transport.WebSockets.DependencyInjection;

namespace Transport.WebSockets.Hosting;

/// <summary>
/// Starts and stops one hosted connection with the host. Registered by
/// <c>AddWebSocketTransport(name).AddHostedConnection()</c>.
/// </summary>
/// <remarks>
/// Hosted.S1 the connection is started in <see cref="StartingAsync"/>, which the host runs for every
/// lifecycle service before it runs any hosted service's StartAsync: the app's services find it started
/// whatever the registration order (S1_the_connection_starts_before_the_apps_hosted_services_whatever_the_order).
/// Hosted.S3 the connection is shut down in <see cref="StoppedAsync"/>, after every hosted service's
/// StopAsync (the app's last sends still go out), with the close handshake bounded by CloseTimeout and
/// cut short by the host's shutdown token (S3_host_stop_closes_the_connection_after_the_apps_services_with_a_close_handshake).
/// Hosted.S4 with <see cref="HostedConnectionOptions.StartTimeout"/>, the start waits for the first
/// up-edge and fails when the connection ends first or the time runs out
/// (S4_StartTimeout_fails_the_host_start_when_the_connection_ends_or_the_bound_runs_out).
/// </remarks>
internal sealed class HostedConnectionService(HostedConnectionOwner owner, HostedConnectionOptions options, ILogger logger) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var connection = owner.Connection; // Hosted.S1
        HostingLog.HostedStarted(logger, owner.Name);
        if (options.StartTimeout is not { } bound)
        {
            return;
        }

        // Hosted.S4: up, or terminal, or out of time.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(bound);
        LifecycleSnapshot reached;
        try
        {
            reached = await connection.Lifecycle.WaitAsync(static s => s.IsUp || s.IsTerminal, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw StartFailed(connection.Lifecycle.Current, $"was not up within StartTimeout ({bound})");
        }

        if (!reached.IsUp)
        {
            throw StartFailed(reached, $"ended {reached.Phase} before it was up");
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        if (owner.Started is not { } connection)
        {
            return;
        }

        try
        {
            await owner.StopAsync(cancellationToken).ConfigureAwait(false); // Hosted.S3
            HostingLog.HostedStopped(logger, owner.Name, connection.Lifecycle.Current.ToString());
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host's shutdown timeout ran out first: the close was cut short and completes in the background.
            HostingLog.HostedStopCutShort(logger, owner.Name);
        }
    }

    private TransportException StartFailed(LifecycleSnapshot snapshot, string what)
    {
        var error = snapshot.LastError is { } e ? $"{e.Kind}{(e.HttpStatus is { } h ? $" http={h}" : string.Empty)}" : "none";
        return new TransportException(
            snapshot.IsTerminal ? snapshot.LastError?.Kind ?? TransportErrorKind.Shutdown : TransportErrorKind.Timeout,
            $"Hosted connection {owner.Name} {what} (phase {snapshot.Phase}, attempts {snapshot.Attempts}, last error {error}).",
            httpStatus: snapshot.LastError?.HttpStatus,
            inner: snapshot.LastError);
    }
}
