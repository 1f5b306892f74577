namespace Transport.WebSockets.Pool;

/// <summary>
/// The subscription grammar, which stays in the adapter: the pool asks it for the frames that
/// subscribe or unsubscribe a set of keys on one connection.
/// </summary>
/// <remarks>
/// Keys are opaque to the pool (a stream name, a channel+symbol pair rendered as text). The frames
/// returned for one call go out as one batch (<see cref="IFrameSink.SendBatchAsync"/>). A connection's
/// whole share is subscribed inside its session initializer on every new socket (before queued data and
/// before the up-edge); changes while up go out from the pool's loop pinned to the epoch. Never called
/// under a lock. An exception during the replay fails that socket's initialization (logged by type, the
/// connection retries with backoff); one during a change while up is logged and the next epoch replays.
/// </remarks>
public interface ISubscriptionProtocol
{
    /// <summary>The frames that subscribe <paramref name="keys"/> on one connection (for example one frame listing them all).</summary>
    /// <param name="keys">At least one key, at most the per-connection cap.</param>
    /// <returns>At least one frame.</returns>
    IReadOnlyList<Frame> Subscribe(IReadOnlyList<string> keys);

    /// <summary>The frames that unsubscribe <paramref name="keys"/> on one connection.</summary>
    /// <param name="keys">At least one key.</param>
    /// <returns>At least one frame.</returns>
    IReadOnlyList<Frame> Unsubscribe(IReadOnlyList<string> keys);
}

/// <summary>How a pool places keys on its connections.</summary>
public enum PoolPlacement
{
    /// <summary>
    /// Fill each connection to its cap before opening the next: the fewest sockets, hence the fewest
    /// connection attempts against the venue's per-IP budget.
    /// </summary>
    FillFirst,

    /// <summary>
    /// Open up to <see cref="ConnectionPoolOptions.MaxConnections"/> connections (never more than there are
    /// keys) and place each key on the least loaded one: smaller shares, so a lost socket takes fewer
    /// subscriptions down and each replay is shorter, at the cost of more sockets and attempts.
    /// </summary>
    Spread,
}

/// <summary>The pool's bounds.</summary>
public sealed record ConnectionPoolOptions
{
    /// <summary>A name for logs and connection names. Default "pool".</summary>
    public string Name { get; init; } = "pool";

    /// <summary>The most subscriptions one connection carries (the venue's per-connection cap). Required, at least 1.</summary>
    public int PerConnectionCap { get; init; }

    /// <summary>The most connections open at once (the venue's per-IP cap). Default 5, at least 1.</summary>
    public int MaxConnections { get; init; } = 5;

    /// <summary>How keys are placed on connections. Default <see cref="PoolPlacement.FillFirst"/>.</summary>
    public PoolPlacement Placement { get; init; } = PoolPlacement.FillFirst;

    /// <summary>The default <see cref="MergedCapacityBytes"/>: 64 MiB, a connection's default receive ring.</summary>
    public const long DefaultMergedCapacityBytes = 64L * 1024 * 1024;

    /// <summary>The merged source's frame bound (drop-oldest, counted in <see cref="PoolSource.TotalDropped"/>). Default 100,000, at least 1.</summary>
    public int MergedCapacityFrames { get; init; } = 100_000;

    /// <summary>
    /// The merged source's payload byte bound (drop-oldest, counted in <see cref="PoolSource.TotalDropped"/>;
    /// one frame larger than the budget is admitted alone). The pool moves each connection's frames into the
    /// merged source as they arrive, so this bound, not the connections' own receive rings, limits the memory
    /// a slow pool consumer holds. Default 64 MiB (<see cref="DefaultMergedCapacityBytes"/>), at least 1.
    /// </summary>
    public long MergedCapacityBytes { get; init; } = DefaultMergedCapacityBytes;

    internal void Validate(TransportOptions connector)
    {
        if (PerConnectionCap < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(PerConnectionCap), PerConnectionCap, "ConnectionPoolOptions.PerConnectionCap must be at least 1.");
        }

        if (MaxConnections < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "ConnectionPoolOptions.MaxConnections must be at least 1.");
        }

        if (MergedCapacityFrames < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MergedCapacityFrames), MergedCapacityFrames, "ConnectionPoolOptions.MergedCapacityFrames must be at least 1.");
        }

        if (MergedCapacityBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MergedCapacityBytes), MergedCapacityBytes, "ConnectionPoolOptions.MergedCapacityBytes must be at least 1.");
        }

        if (connector.Reconnect.MaxAttemptsPerWindow is { } attempts && attempts < MaxConnections)
        {
            throw new ArgumentOutOfRangeException(
                nameof(MaxConnections),
                MaxConnections,
                $"ConnectionPoolOptions.MaxConnections ({MaxConnections}) exceeds the connector's Reconnect.MaxAttemptsPerWindow ({attempts}), the connect-attempt cap its connections share: the pool could not even open its connections within one window.");
        }

        if (!Enum.IsDefined(Placement))
        {
            throw new ArgumentOutOfRangeException(nameof(Placement), Placement, "ConnectionPoolOptions.Placement must be FillFirst or Spread.");
        }

        if (string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException("ConnectionPoolOptions.Name must not be empty.", nameof(Name));
        }
    }
}

/// <summary>A frame from the pool's merged source: the frame (with its epoch and receive time) and the connection it came from.</summary>
/// <param name="Connection">The connection's slot index.</param>
/// <param name="Frame">The frame, unchanged. In lease mode it is the reader's, to release once after its last read (docs/adr/0013).</param>
public readonly record struct PooledFrame(int Connection, Frame Frame);

/// <summary>One connection as the pool sees it now (levels only).</summary>
/// <param name="Index">The slot index.</param>
/// <param name="Name">The connection's name.</param>
/// <param name="Phase">Its phase.</param>
/// <param name="Epoch">Its epoch.</param>
/// <param name="DownSince">When it went down, while down.</param>
/// <param name="Subscriptions">How many keys it carries.</param>
/// <param name="ReplayedEpoch">The newest epoch whose share was fully subscribed by its session initializer (-1 before the first).</param>
/// <param name="InSync">True when the socket's subscriptions equal the share: replayed on the current epoch and no change waiting or in flight.</param>
public readonly record struct PoolConnectionState(int Index, string Name, ConnectionPhase Phase, long Epoch, DateTimeOffset? DownSince, int Subscriptions, long ReplayedEpoch, bool InSync);

/// <summary>
/// The pool's aggregated lifecycle: how many connections are up, which are down and since when,
/// and where every subscription is. Every field is a level or a cumulative count.
/// </summary>
/// <param name="Connections">Every open connection, by slot.</param>
/// <param name="Subscriptions">Keys declared.</param>
/// <param name="Unassigned">Keys with no connection now (no room within <see cref="ConnectionPoolOptions.MaxConnections"/>): declared, not dropped.</param>
/// <param name="Lost">Cumulative connections that became Unrecoverable and were replaced.</param>
public sealed record PoolSnapshot(IReadOnlyList<PoolConnectionState> Connections, int Subscriptions, IReadOnlyList<string> Unassigned, long Lost)
{
    /// <summary>
    /// Cumulative frames the merged source dropped (oldest first) because the pool's consumer was behind
    /// by more than <see cref="ConnectionPoolOptions.MergedCapacityFrames"/> or
    /// <see cref="ConnectionPoolOptions.MergedCapacityBytes"/>; the same count as <see cref="PoolSource.TotalDropped"/>.
    /// Each connection's own drops are in its lifecycle's <see cref="LifecycleSnapshot.TotalLagged"/>.
    /// </summary>
    public long MergedDropped { get; init; }

    /// <summary>Connections up now (Connected, Stale or Resumed).</summary>
    public int Up => Connections.Count(c => c.Phase is ConnectionPhase.Connected or ConnectionPhase.Stale or ConnectionPhase.Resumed);

    /// <summary>Connections down now, with when each went down.</summary>
    public IEnumerable<PoolConnectionState> Down => Connections.Where(c => c.Phase is not (ConnectionPhase.Connected or ConnectionPhase.Stale or ConnectionPhase.Resumed));

    /// <summary>True when every connection is up and its socket carries exactly its share, and no key is unassigned.</summary>
    public bool AllSubscribed => Unassigned.Count == 0 && Connections.All(c => c.Phase is ConnectionPhase.Connected or ConnectionPhase.Stale or ConnectionPhase.Resumed && c.InSync);

    /// <summary>The earliest moment a connection now down went down (null when none is down): how long the pool has been degraded.</summary>
    public DateTimeOffset? DegradedSince => Down.Select(c => c.DownSince).Where(d => d is not null).Min();

    /// <summary>One line, safe to log.</summary>
    public override string ToString() =>
        $"pool: {Up}/{Connections.Count} up, {Subscriptions} subscriptions, {Unassigned.Count} unassigned, lost={Lost}, merged dropped={MergedDropped}";
}

/// <summary>The pool could not take the keys: they exceed <c>MaxConnections x PerConnectionCap</c>. Nothing was assigned.</summary>
public sealed class PoolCapacityException : InvalidOperationException
{
    /// <summary>Creates the error.</summary>
    /// <param name="requested">Keys the pool would hold.</param>
    /// <param name="capacity">Keys the pool can hold.</param>
    public PoolCapacityException(int requested, int capacity)
        : base($"The pool would hold {requested} subscriptions but its capacity is {capacity} (MaxConnections x PerConnectionCap); nothing was added.")
    {
        Requested = requested;
        Capacity = capacity;
    }

    /// <summary>Keys the pool would hold.</summary>
    public int Requested { get; }

    /// <summary>Keys the pool can hold.</summary>
    public int Capacity { get; }
}
