namespace Transport;

/// <summary>
/// The last-value channel of <see cref="LifecycleSnapshot"/>: observable (a new subscriber gets
/// the current snapshot at once), readable (<see cref="Current"/>) and awaitable.
/// </summary>
/// <remarks>
/// Observers are called off the actor's path and coalesced per observer: a slow observer sees
/// fewer, newer snapshots (lossless, because every field is a level or a cumulative count) and
/// never delays the connection; an observer that throws is unsubscribed and logged. The
/// stream completes after the terminal snapshot.
/// </remarks>
public interface ILifecycleChannel : IObservable<LifecycleSnapshot>
{
    /// <summary>The newest snapshot.</summary>
    LifecycleSnapshot Current { get; }

    /// <summary>Completes when the terminal snapshot has been published.</summary>
    Task Completion { get; }

    /// <summary>
    /// Waits for the first snapshot that satisfies <paramref name="predicate"/> (checked against
    /// <see cref="Current"/> first, on the caller's thread).
    /// </summary>
    /// <remarks>
    /// The predicate is user code: it runs outside every lock of the stack and never on the
    /// connection's own path, once per snapshot in version order (none is skipped for a waiter,
    /// unlike observers). A predicate that throws faults this wait only, with its exception
    /// (logged by type); one that blocks delays this wait only.
    /// </remarks>
    /// <param name="predicate">The condition.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The first matching snapshot.</returns>
    /// <exception cref="TransportException">The channel completed without a match (kind Shutdown).</exception>
    /// <exception cref="Exception">Whatever <paramref name="predicate"/> threw.</exception>
    ValueTask<LifecycleSnapshot> WaitAsync(Func<LifecycleSnapshot, bool> predicate, CancellationToken cancellationToken = default);
}

/// <summary>Helpers over <see cref="ILifecycleChannel"/>.</summary>
public static class LifecycleChannelExtensions
{
    /// <summary>The next snapshot newer than version <paramref name="afterVersion"/>.</summary>
    /// <param name="lifecycle">The channel.</param>
    /// <param name="afterVersion">A version already seen.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A newer snapshot (the newest at the time the waiter runs).</returns>
    public static ValueTask<LifecycleSnapshot> WaitForChangeAsync(this ILifecycleChannel lifecycle, long afterVersion, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        return lifecycle.WaitAsync(s => s.Version > afterVersion || s.IsTerminal, cancellationToken);
    }

    /// <summary>The first snapshot whose epoch is past <paramref name="afterEpoch"/> (a down-cycle completed).</summary>
    /// <param name="lifecycle">The channel.</param>
    /// <param name="afterEpoch">An epoch already handled.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The snapshot.</returns>
    public static ValueTask<LifecycleSnapshot> WaitForEpochAfterAsync(this ILifecycleChannel lifecycle, long afterEpoch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        return lifecycle.WaitAsync(s => s.Epoch > afterEpoch || s.IsTerminal, cancellationToken);
    }

    /// <summary>The first snapshot in <paramref name="phase"/>.</summary>
    /// <param name="lifecycle">The channel.</param>
    /// <param name="phase">The phase to wait for.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The snapshot.</returns>
    public static ValueTask<LifecycleSnapshot> WaitForPhaseAsync(this ILifecycleChannel lifecycle, ConnectionPhase phase, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        return lifecycle.WaitAsync(s => s.Phase == phase, cancellationToken);
    }

    /// <summary>
    /// The lifecycle as an async stream, with the channel's coalescing: the current snapshot first, then
    /// the newest one each time the consumer asks (a consumer slower than the changes sees fewer, newer
    /// snapshots, never an older one after a newer one, and loses nothing that matters: every field is a
    /// level or a cumulative count), ending after the terminal snapshot (Unrecoverable or Closed).
    /// </summary>
    /// <remarks>
    /// <code>
    /// await foreach (var s in conn.Lifecycle.WatchAsync(ct))
    /// {
    ///     if (!s.IsUp) risk.MarkFeedDown(s.DownSince);
    /// }
    /// </code>
    /// Each enumeration subscribes once (<see cref="IObservable{T}.Subscribe"/>) and unsubscribes when it
    /// ends, is disposed or is cancelled. Snapshots are delivered in version order, each at most once.
    /// It never holds up the connection: the observer only stores the newest snapshot.
    /// </remarks>
    /// <param name="lifecycle">The channel.</param>
    /// <param name="cancellationToken">Ends the enumeration with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The snapshots.</returns>
    public static IAsyncEnumerable<LifecycleSnapshot> WatchAsync(this ILifecycleChannel lifecycle, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        return LifecycleStream.Watch(lifecycle, cancellationToken);
    }

    /// <summary>The first snapshot in which the feed is up (Connected, Stale or Resumed).</summary>
    /// <param name="lifecycle">The channel.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The snapshot.</returns>
    public static ValueTask<LifecycleSnapshot> WaitUntilUpAsync(this ILifecycleChannel lifecycle, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        return lifecycle.WaitAsync(s => s.IsUp, cancellationToken);
    }
}
