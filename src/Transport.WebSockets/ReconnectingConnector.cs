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
        return ValueTask.FromResult(Start());
    }

    /// <summary>
    /// Starts a connection and returns it at once, in phase Connecting (its actor is running): what a
    /// hosted connection owns, whatever <see cref="ConnectAsync"/> waits for.
    /// </summary>
    internal ReconnectingConnection Start()
    {
        var actor = new ConnectionActor(_services);
        var connection = new ReconnectingConnection(_services.Options.Name, actor.Sink, actor.Source, actor.Lifecycle, GuardedConnectionControl.For(new ConnectionControl(actor), _services.Spawner), () => actor.SessionInfo);
        actor.Start();
        return connection;
    }

    /// <summary>
    /// Starts a connection of this connector under another name, with <paramref name="then"/> run on
    /// every new socket after the connector's own initializer (the pool's per-connection replay). The
    /// connection shares everything else with its siblings, the connect-attempt gate included (Gate.G1).
    /// </summary>
    internal ReconnectingConnection Connect(string name, ISessionInitializer then)
    {
        var options = _services.Options.Clone();
        options.Name = name;
        var initializer = _services.Initializer is { } own ? SessionInitializers.Sequence(own, then) : then;

        // A record copy: AttemptGate (and the telemetry factory) are the same instances as the connector's.
        var services = _services with { Options = options, Initializer = initializer };
        var actor = new ConnectionActor(services);
        var connection = new ReconnectingConnection(name, actor.Sink, actor.Source, actor.Lifecycle, GuardedConnectionControl.For(new ConnectionControl(actor), services.Spawner), () => actor.SessionInfo);
        actor.Start();
        return connection;
    }

    /// <summary>Everything this connector's connections are built from (a redundant leg derives its own from it).</summary>
    internal ConnectionServices Services => _services;

    /// <summary>
    /// Starts a connection from <paramref name="services"/>, a copy of <see cref="Services"/> with some parts
    /// replaced (a redundant leg's endpoint, auth and initializer). A record copy keeps the connector's
    /// AttemptGate, so the connection shares the connect-attempt cap with its siblings (Gate.G1).
    /// </summary>
    internal ReconnectingConnection Connect(ConnectionServices services)
    {
        System.Diagnostics.Debug.Assert(ReferenceEquals(services.AttemptGate, _services.AttemptGate), "a leg must share the connector's attempt gate");
        var actor = new ConnectionActor(services);
        var connection = new ReconnectingConnection(services.Options.Name, actor.Sink, actor.Source, actor.Lifecycle, GuardedConnectionControl.For(new ConnectionControl(actor), services.Spawner), () => actor.SessionInfo);
        actor.Start();
        return connection;
    }
}
