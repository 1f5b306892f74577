namespace Transport;

/// <summary>
/// What an adapter holds: one logical connection that survives socket loss. Its four parts are
/// stable for its whole life.
/// </summary>
public sealed class ReconnectingConnection : IAsyncDisposable
{
    /// <summary>Assembles a connection from its parts (used by stack implementations).</summary>
    /// <param name="name">The connection's name (logs, metrics, traces).</param>
    /// <param name="sink">The send side.</param>
    /// <param name="source">The receive side.</param>
    /// <param name="lifecycle">The lifecycle channel.</param>
    /// <param name="control">The control verbs.</param>
    public ReconnectingConnection(string name, IFrameSink sink, IFrameSource source, ILifecycleChannel lifecycle, IConnectionControl control)
        : this(name, sink, source, lifecycle, control, null)
    {
    }

    /// <summary>Assembles a connection from its parts, with the current session's facts (used by stack implementations).</summary>
    /// <param name="name">The connection's name (logs, metrics, traces).</param>
    /// <param name="sink">The send side.</param>
    /// <param name="source">The receive side.</param>
    /// <param name="lifecycle">The lifecycle channel.</param>
    /// <param name="control">The control verbs.</param>
    /// <param name="session">Returns the facts of the current (or last) session; null: none known.</param>
    public ReconnectingConnection(string name, IFrameSink sink, IFrameSource source, ILifecycleChannel lifecycle, IConnectionControl control, Func<SessionInfo?>? session)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(lifecycle);
        ArgumentNullException.ThrowIfNull(control);
        Name = name;
        Sink = sink;
        Source = source;
        Lifecycle = lifecycle;
        Control = control;
        _session = session;
    }

    private readonly Func<SessionInfo?>? _session;

    /// <summary>The connection's name.</summary>
    public string Name { get; }

    /// <summary>The send side, stable across reconnects.</summary>
    public IFrameSink Sink { get; }

    /// <summary>The data frames of every epoch.</summary>
    public IFrameSource Source { get; }

    /// <summary>The lifecycle snapshots.</summary>
    public ILifecycleChannel Lifecycle { get; }

    /// <summary>Shutdown and forced reconnect.</summary>
    public IConnectionControl Control { get; }

    /// <summary>
    /// The facts of the current session (the newest socket that went up): epoch, negotiated
    /// subprotocol and extensions, selected response headers, connect time. Null before the first
    /// session went up. While the feed is down it still describes the last session (compare its
    /// <see cref="SessionInfo.Epoch"/> with <see cref="ILifecycleChannel.Current"/>).
    /// </summary>
    public SessionInfo? Session => _session?.Invoke();

    /// <summary>Make-before-break rotation to a new socket (see <see cref="IConnectionControl.RotateAsync"/>).</summary>
    /// <param name="cancellationToken">Abandons the rotation before the switch; after it, ends the wait only.</param>
    /// <returns>How the rotation ended.</returns>
    public Task<RotationResult> RotateAsync(CancellationToken cancellationToken = default) => Control.RotateAsync(cancellationToken);

    /// <summary>Shuts the connection down (see <see cref="IConnectionControl.ShutdownAsync"/>).</summary>
    /// <returns>Completes when the actor has stopped.</returns>
    /// <remarks>
    /// Returns the shutdown task itself (no extra continuation), so under a test's pumped spawner the
    /// disposal completes inside the pump step that stopped the actor.
    /// </remarks>
    public ValueTask DisposeAsync() => new(Control.ShutdownAsync());

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {Lifecycle.Current}";
}

/// <summary>The usage seam: what the assembled stack exposes.</summary>
public interface IReconnectingConnector
{
    /// <summary>
    /// Starts a reconnecting connection and returns it at once, in phase Connecting; observe
    /// <see cref="ReconnectingConnection.Lifecycle"/> (for example
    /// <see cref="LifecycleChannelExtensions.WaitUntilUpAsync"/>) to know when frames flow.
    /// </summary>
    /// <param name="cancellationToken">Cancels starting (not the connection's life).</param>
    /// <returns>The connection.</returns>
    ValueTask<ReconnectingConnection> ConnectAsync(CancellationToken cancellationToken = default);
}
