namespace Transport.WebSockets.Connection;

/// <summary>The control verbs over an actor.</summary>
internal sealed class ConnectionControl : IConnectionControl
{
    private readonly ConnectionActor _actor;

    public ConnectionControl(ConnectionActor actor) => _actor = actor;

    public ReconnectTrigger ReconnectTrigger => _actor.Trigger;

    public Task<RotationResult> RotateAsync(CancellationToken cancellationToken = default) => _actor.RotateAsync("requested", cancellationToken);

    public Task ShutdownAsync(CancellationToken cancellationToken = default) => _actor.ShutdownAsync(cancellationToken);
}
