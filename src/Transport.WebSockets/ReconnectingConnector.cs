using Transport.WebSockets.Connection;
using Transport.WebSockets.Spawning;

namespace Transport.WebSockets;

/// <summary>
/// The assembled stack: each <see cref="ConnectAsync"/> starts one connection actor over the leaf
/// connector. Build it with <see cref="WebSocketTransportBuilder"/> or through DI
/// (<c>AddWebSocketTransport</c>).
/// </summary>
public sealed class ReconnectingConnector : IReconnectingConnector
{
    private readonly ConnectionServices _services;

    internal ReconnectingConnector(ConnectionServices services) => _services = services;

    /// <summary>The leaf connector the builder chose (tests observe the leaf selection through it).</summary>
    internal ILeafConnector Leaf => _services.Leaf;

    /// <summary>The validated options every connection of this connector uses.</summary>
    public TransportOptions Options => _services.Options.Clone();

    /// <inheritdoc />
    public ValueTask<ReconnectingConnection> ConnectAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var actor = new ConnectionActor(_services);
        var connection = new ReconnectingConnection(_services.Options.Name, actor.Sink, actor.Source, actor.Lifecycle, GuardedConnectionControl.For(new ConnectionControl(actor), _services.Spawner), () => actor.SessionInfo);
        actor.Start();
        return ValueTask.FromResult(connection);
    }
}
