namespace Transport.Nats;

/// <summary>
/// What a relay publishes while it is active: a source of frames, optionally the lifecycle that goes
/// with them, and how to close the venue connection when the relay is fenced or stops.
/// </summary>
/// <remarks>
/// The relay opens its input only while it holds the feed's lease (through the factory given to
/// <see cref="NatsRelay"/>), and disposes it when the lease is lost: that is what keeps a feed to one
/// venue connection across relays. Disposal must close the venue connection promptly; the transport's
/// <c>ShutdownAsync</c> is bounded by its <c>CloseTimeout</c> (default 2 s), within the lease's
/// <see cref="NatsLeaseOptions.CloseMargin"/> with the default lease settings.
/// </remarks>
public sealed class RelayInput : IAsyncDisposable
{
    private readonly Func<ValueTask>? _dispose;
    private int _disposed;

    private RelayInput(IFrameSource? source, IAsyncEnumerable<Frame>? frames, ILifecycleChannel? lifecycle, Func<ValueTask>? dispose)
    {
        Source = source;
        Frames = frames;
        Lifecycle = lifecycle;
        _dispose = dispose;
    }

    /// <summary>The frame source, when the input is one (read in batches).</summary>
    public IFrameSource? Source { get; }

    /// <summary>The frames, when the input is a plain sequence (a pool's merged source).</summary>
    public IAsyncEnumerable<Frame>? Frames { get; }

    /// <summary>The lifecycle published to the feed's KV key; null: the relay publishes Connected while it is active.</summary>
    public ILifecycleChannel? Lifecycle { get; }

    /// <summary>A reconnecting connection: its source and lifecycle; disposing the input shuts the connection down.</summary>
    /// <param name="connection">The connection (for example from <c>connector.ConnectAsync()</c>).</param>
    /// <returns>The input.</returns>
    public static RelayInput FromConnection(ReconnectingConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return new RelayInput(connection.Source, null, connection.Lifecycle, connection.DisposeAsync);
    }

    /// <summary>A frame source with its lifecycle.</summary>
    /// <param name="source">The frames.</param>
    /// <param name="lifecycle">Their lifecycle, or null.</param>
    /// <param name="dispose">Closes the venue connection behind them, or null.</param>
    /// <returns>The input.</returns>
    public static RelayInput FromSource(IFrameSource source, ILifecycleChannel? lifecycle, Func<ValueTask>? dispose = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new RelayInput(source, null, lifecycle, dispose);
    }

    /// <summary>
    /// Any sequence of frames, for example a connection pool's merged source
    /// (<c>pool.Source.Select(p =&gt; p.Frame)</c>, with <c>pool.DisposeAsync</c> as <paramref name="dispose"/>).
    /// Each frame keeps the epoch of the socket it arrived on.
    /// </summary>
    /// <param name="frames">The frames.</param>
    /// <param name="lifecycle">A lifecycle to publish, or null (the relay then publishes Connected while active).</param>
    /// <param name="dispose">Closes the venue connections behind them, or null.</param>
    /// <returns>The input.</returns>
    public static RelayInput FromFrames(IAsyncEnumerable<Frame> frames, ILifecycleChannel? lifecycle = null, Func<ValueTask>? dispose = null)
    {
        ArgumentNullException.ThrowIfNull(frames);
        return new RelayInput(null, frames, lifecycle, dispose);
    }

    /// <summary>Closes the venue connection (once).</summary>
    /// <returns>Completes when it is closed.</returns>
    public ValueTask DisposeAsync() =>
        Interlocked.Exchange(ref _disposed, 1) == 0 && _dispose is not null ? _dispose() : ValueTask.CompletedTask;
}
