using Transport.WebSockets.DependencyInjection;

namespace Transport.WebSockets.Hosting;

/// <summary>
/// The container's one connection per hosted name (a keyed singleton): started on first use (the host's
/// StartingAsync, or a service resolving it earlier), shut down by the host's stop or the container's
/// disposal. The app uses the connection and never disposes it.
/// </summary>
internal sealed class HostedConnectionOwner(string name, ReconnectingConnectorFactory connectors) : IAsyncDisposable, IDisposable
{
    private readonly Lock _gate = new();
    private ReconnectingConnection? _connection; // written once, under _gate

    public string Name { get; } = name;

    /// <summary>The connection, started on first use (Hosted.S2: one per name, the one the host starts and stops; S2_the_keyed_connection_is_the_one_the_host_starts_and_stops).</summary>
    public ReconnectingConnection Connection
    {
        get
        {
            if (Volatile.Read(ref _connection) is { } started)
            {
                return started;
            }

            lock (_gate)
            {
                // Options that break a rule throw OptionsValidationException here (also at the host's ValidateOnStart).
                return _connection ??= connectors.GetConnector(Name).Start();
            }
        }
    }

    /// <summary>The connection if it was started; null before.</summary>
    public ReconnectingConnection? Started => Volatile.Read(ref _connection);

    /// <summary>Shuts the connection down (idempotent); the token bounds the wait, not the shutdown.</summary>
    public Task StopAsync(CancellationToken cancellationToken) =>
        Started?.Control.ShutdownAsync(cancellationToken) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (Started is { } connection)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A synchronous container disposal: the shutdown is requested and carries on in the background.</summary>
    public void Dispose() => _ = StopAsync(CancellationToken.None);
}
