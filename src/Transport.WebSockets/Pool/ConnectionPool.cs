using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Transport.WebSockets.Pool;

// Invariants (each proven by a test carrying [Trait("Invariant", "<id>")] in tests/Transport.Tests/Pool/):
//
// Pool.P1: Bounds: no connection carries more than PerConnectionCap keys; at most MaxConnections are open;
//          every declared key is on exactly one connection or listed Unassigned.
// Pool.P2: On demand. FillFirst (default): a connection is opened only when every open one is at its cap;
//          keys go to the lowest slot with room. Spread: connections open up to min(MaxConnections, keys) and
//          each key goes to the least loaded one (lowest slot on a tie).
// Pool.P3: Replay through the session initializer: on every new socket of a connection, exactly its share is
//          subscribed there, as one batch on the context's pinned sink, after the connector's own initializer,
//          before any queued frame and before the up-edge; no other connection sends anything because of it.
// Pool.P4: Changes while up go to the owning connection only (subscribe or unsubscribe pinned to its
//          epoch); changes while down are folded into its next replay; nothing is sent twice for one epoch.
// Pool.P5: A connection that becomes Unrecoverable is replaced: its keys move to connections with room
//          (opening new ones within MaxConnections); keys with no room are listed Unassigned, never dropped.
//          One that never came up opens no replacement (it would fail the same way): its keys go to open
//          connections with room or stay Unassigned until ReassignAsync.
// Pool.P6: Merged source: every frame keeps its connection index, epoch and receive time; per-connection order holds.
// Pool.P7: AddAsync beyond MaxConnections x PerConnectionCap throws PoolCapacityException and assigns nothing.
// Pool.P8: One connect-attempt gate: every connection of the pool is a connection of one connector, so the
//          attempts of all of them together stay within Reconnect.MaxAttemptsPerWindow (Gate.G1); members
//          failing at once do not multiply the attempt rate.
// Pool.P9: Aggregated lifecycle: the snapshot holds every connection's phase, epoch and down-since, how many
//          are up, which are down and since when, and whether each socket carries exactly its share.
// Pool.P10: The merged source is bounded by frames and by payload bytes (its own bounds: the connections'
//          rings are drained into it as frames arrive); it drops the oldest, counts every drop
//          (PoolSource.TotalDropped, PoolSnapshot.MergedDropped) and releases a leased frame it drops. A
//          frame read from it is the reader's to release; at disposal the frames the connections still
//          held are moved into it, not left behind (ADR 0013).
//          PoolSourceTests (each suspected case of issue 26, and the disposal drain)

/// <summary>
/// Spreads opaque subscription keys over several reconnecting connections under a per-connection cap,
/// replays each connection's share on every epoch, replaces connections that become unrecoverable, and
/// exposes one merged source and one aggregated lifecycle.
/// </summary>
/// <remarks>
/// <para>
/// The grammar stays in the adapter (<see cref="ISubscriptionProtocol"/>); the pool only decides which
/// connection carries which key and when to ask for frames. Every connection is started from the one
/// <see cref="ReconnectingConnector"/> the adapter built, so each has the adapter's options, auth,
/// classifier and session initializer, and all of them share the connector's connect-attempt gate.
/// </para>
/// <para>
/// Replay: each connection gets the pool's initializer after the connector's own: on every new socket
/// it subscribes that connection's share on the context's pinned sink, before queued data and before
/// Connected/Resumed is published. Changes while up go out from the pool's loop, pinned to the epoch.
/// </para>
/// </remarks>
public sealed class ConnectionPool : IAsyncDisposable
{
    private readonly ConnectionPoolOptions _options;
    private readonly ISubscriptionProtocol _protocol;
    private readonly ReconnectingConnector _connector;
    private readonly ISpawner _spawner;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();

    // Serializes membership changes (open, assign, replace); never held across user code other than the factory.
    private readonly SemaphoreSlim _membership = new(1, 1);

    // Guards the maps and lists below.
    private readonly Lock _lock = new();
    private readonly List<PoolMember> _members = [];
    private readonly Dictionary<string, PoolMember> _owner = new(StringComparer.Ordinal);
    private readonly List<string> _unassigned = [];
    private readonly List<Task> _loops = [];
    private long _lost;
    private bool _disposed;

    /// <summary>Creates an empty pool; connections open when keys are added.</summary>
    /// <param name="options">Bounds and name.</param>
    /// <param name="protocol">The adapter's subscription grammar.</param>
    /// <param name="connector">
    /// Starts every connection of the pool (named <c>{Name}-{slot}</c>): one connector, so one
    /// connect-attempt gate for all of them. Its own session initializer (a login) runs first on each socket.
    /// </param>
    /// <param name="spawner">Where the pool's per-connection loops run (the thread pool when null; a pumped spawner in tests).</param>
    /// <param name="logger">Where the pool logs.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is invalid (the message names the field).</exception>
    public ConnectionPool(ConnectionPoolOptions options, ISubscriptionProtocol protocol, ReconnectingConnector connector, ISpawner? spawner = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(connector);
        options.Validate(connector.Options);
        _options = options;
        _protocol = protocol;
        _connector = connector;
        _spawner = spawner ?? ThreadPoolSpawner.Instance;
        _logger = logger ?? NullLogger.Instance;
        Source = new PoolSource(options.MergedCapacityFrames, options.MergedCapacityBytes);
    }

    /// <summary>The merged data frames of every connection.</summary>
    public PoolSource Source { get; }

    /// <summary>The keys the pool can hold: <c>MaxConnections x PerConnectionCap</c>.</summary>
    public int Capacity => _options.MaxConnections * _options.PerConnectionCap;

    /// <summary>The aggregated lifecycle now.</summary>
    public PoolSnapshot Current
    {
        get
        {
            lock (_lock)
            {
                var states = _members.Select(m => m.State()).ToArray();
                return new PoolSnapshot(states, _owner.Count + _unassigned.Count, [.. _unassigned], _lost) { MergedDropped = Source.TotalDropped };
            }
        }
    }

    /// <summary>The open connections, by slot (for per-connection detail such as its lifecycle stream).</summary>
    public IReadOnlyList<ReconnectingConnection> Connections
    {
        get { lock (_lock) { return [.. _members.Select(m => m.Connection)]; } }
    }

    /// <summary>Declares keys: each is assigned to the lowest connection with room, opening connections as needed.</summary>
    /// <param name="keys">The keys; ones already declared are ignored.</param>
    /// <param name="cancellationToken">Cancels waiting for the membership lock.</param>
    /// <returns>Completes when the keys are assigned (their subscribe frames go out on each connection's loop).</returns>
    /// <exception cref="PoolCapacityException">The pool would exceed its capacity; nothing was added.</exception>
    public async ValueTask AddAsync(IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var wanted = keys.Distinct(StringComparer.Ordinal).ToList();
        await _membership.WaitAsync(cancellationToken);
        try
        {
            List<string> fresh;
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                fresh = wanted.Where(k => !_owner.ContainsKey(k) && !_unassigned.Contains(k, StringComparer.Ordinal)).ToList();
                int total = _owner.Count + _unassigned.Count + fresh.Count;
                if (total > Capacity)
                {
                    throw new PoolCapacityException(total, Capacity);
                }

                _unassigned.AddRange(fresh);
            }

            AssignUnassigned(cancellationToken);
        }
        finally
        {
            _membership.Release();
        }
    }

    /// <summary>Removes keys: the owning connection unsubscribes them (if up) and frees their room.</summary>
    /// <param name="keys">The keys; unknown ones are ignored.</param>
    /// <param name="cancellationToken">Cancels waiting for the membership lock.</param>
    /// <returns>Completes when the keys are removed from their connections' shares.</returns>
    public async ValueTask RemoveAsync(IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        await _membership.WaitAsync(cancellationToken);
        try
        {
            lock (_lock)
            {
                foreach (var key in keys)
                {
                    if (_owner.Remove(key, out var member))
                    {
                        member.Remove(key);
                    }
                    else
                    {
                        _unassigned.Remove(key);
                    }
                }
            }

            // Room may have opened for keys that had none.
            AssignUnassigned(cancellationToken);
        }
        finally
        {
            _membership.Release();
        }
    }

    /// <summary>
    /// Places the keys listed <see cref="PoolSnapshot.Unassigned"/> (left by a connection that became
    /// Unrecoverable before it ever came up), opening connections within <see cref="ConnectionPoolOptions.MaxConnections"/>.
    /// </summary>
    /// <param name="cancellationToken">Cancels waiting for the membership lock.</param>
    /// <returns>Completes when the keys are placed (or no room is left).</returns>
    public async ValueTask ReassignAsync(CancellationToken cancellationToken = default)
    {
        await _membership.WaitAsync(cancellationToken);
        try
        {
            AssignUnassigned(cancellationToken);
        }
        finally
        {
            _membership.Release();
        }
    }

    /// <summary>Shuts every connection down and ends the merged source.</summary>
    /// <returns>Completes when every connection has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        List<PoolMember> members;
        Task[] loops;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            members = [.. _members];
            loops = [.. _loops];
        }

        _stop.Cancel(); // the members' change loops
        foreach (var member in members)
        {
            await member.Connection.Control.ShutdownAsync().ConfigureAwait(false);
        }

        // Each member's pump ends when its connection's source has ended, after moving the frames the
        // connection still held into the merged source: nothing is left behind unreleased (ADR 0013),
        // and the merged source's bounds and drop count apply to them as to any other frame.
        await Task.WhenAll(loops).ConfigureAwait(false);
        Source.Complete();
    }

    /// <inheritdoc />
    public override string ToString() => Current.ToString();

    // Caller holds _membership. Gives every unassigned key a connection with room, opening
    // connections within MaxConnections (P2, P5); what cannot be placed stays listed (P1).
    private void AssignUnassigned(CancellationToken cancellationToken, bool mayOpen = true)
    {
        if (_options.Placement == PoolPlacement.Spread && mayOpen)
        {
            // Spread: open every connection the keys can use first, then place each key on the least loaded one.
            while (true)
            {
                bool open;
                lock (_lock)
                {
                    int live = _members.Count(m => !m.IsLost);
                    open = !_disposed && _unassigned.Count > 0 && live < _options.MaxConnections && live < _owner.Count + _unassigned.Count;
                }

                if (!open)
                {
                    break;
                }

                cancellationToken.ThrowIfCancellationRequested();
                Open();
            }

            lock (_lock)
            {
                while (_unassigned.Count > 0 && _members.Where(m => !m.IsLost && m.Count < _options.PerConnectionCap).MinBy(m => (m.Count, m.Index)) is { } least)
                {
                    var key = _unassigned[0];
                    _unassigned.RemoveAt(0);
                    _owner[key] = least;
                    least.Add(key);
                }
            }

            return;
        }

        while (true)
        {
            bool needConnection;
            lock (_lock)
            {
                foreach (var member in _members.Where(m => !m.IsLost).OrderBy(m => m.Index))
                {
                    while (_unassigned.Count > 0 && member.Count < _options.PerConnectionCap)
                    {
                        var key = _unassigned[0];
                        _unassigned.RemoveAt(0);
                        _owner[key] = member;
                        member.Add(key);
                    }
                }

                needConnection = mayOpen && _unassigned.Count > 0 && _members.Count(m => !m.IsLost) < _options.MaxConnections && !_disposed;
            }

            if (!needConnection)
            {
                return;
            }

            cancellationToken.ThrowIfCancellationRequested();
            Open();
        }
    }

    // Caller holds _membership. Starts the slot's connection with the member as its extra initializer (P3, P8).
    private void Open()
    {
        int index;
        lock (_lock)
        {
            index = 0;
            while (_members.Any(m => m.Index == index))
            {
                index++;
            }
        }

        var name = $"{_options.Name}-{index}";
        var member = new PoolMember(index, name, _protocol, _logger);
        member.Connection = _connector.Connect(name, member);
        lock (_lock)
        {
            _members.Add(member);
            _members.Sort((a, b) => a.Index.CompareTo(b.Index));
            CancellationToken stop = _stop.Token;
            _loops.Add(_spawner.Spawn(() => RunMemberAsync(member, stop)));
            _loops.Add(_spawner.Spawn(() => member.PumpAsync(Source)));
        }

        PoolLog.Opened(_logger, name, index);
    }

    // The member's loop; when it ends because the connection became unrecoverable, its keys move (P5).
    private async Task RunMemberAsync(PoolMember member, CancellationToken stop)
    {
        bool lost = await member.RunAsync(stop);
        if (!lost || stop.IsCancellationRequested)
        {
            return;
        }

        await _membership.WaitAsync(CancellationToken.None);
        try
        {
            lock (_lock)
            {
                _members.Remove(member);
                _lost++;
                foreach (var key in member.Keys())
                {
                    _owner.Remove(key);
                    _unassigned.Add(key);
                }
            }

            PoolLog.Lost(_logger, member.Name, member.Count);
            if (!stop.IsCancellationRequested)
            {
                // A connection that never came up (its first attempts failed permanently: bad credentials,
                // a refused endpoint) would fail the same way on a replacement: its keys go to connections
                // with room, and the rest stay Unassigned until ReassignAsync, AddAsync or RemoveAsync.
                AssignUnassigned(stop, mayOpen: member.EverUp);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Disposed meanwhile.
        }
        catch (Exception ex)
        {
            // Starting a replacement failed: the keys stay listed Unassigned (P5) and are retried at
            // the next AddAsync or RemoveAsync.
            PoolLog.ReplaceFailed(_logger, member.Name, ex.GetType().Name);
        }
        finally
        {
            _membership.Release();
        }
    }
}

internal static partial class PoolLog
{
    [LoggerMessage(EventId = 310, EventName = "PoolOpened", Level = LogLevel.Information, Message = "Pool connection {Name} opened (slot {Index}).")]
    public static partial void Opened(ILogger logger, string name, int index);

    [LoggerMessage(EventId = 311, EventName = "PoolLost", Level = LogLevel.Warning, Message = "Pool connection {Name} became unrecoverable; moving its {Keys} subscriptions.")]
    public static partial void Lost(ILogger logger, string name, int keys);

    [LoggerMessage(EventId = 312, EventName = "PoolReplaceFailed", Level = LogLevel.Error, Message = "Pool connection {Name}: opening a replacement failed ({ExceptionType}); its subscriptions stay unassigned.")]
    public static partial void ReplaceFailed(ILogger logger, string name, string exceptionType);

    [LoggerMessage(EventId = 313, EventName = "PoolReplayFailed", Level = LogLevel.Warning, Message = "Pool connection {Name}: subscribing on epoch {Epoch} failed ({Reason}); the next epoch replays.")]
    public static partial void ReplayFailed(ILogger logger, string name, long epoch, string reason);

    [LoggerMessage(EventId = 314, EventName = "PoolProtocolFaulted", Level = LogLevel.Error, Message = "Pool connection {Name}: the subscription protocol threw {ExceptionType}; retried at the next epoch.")]
    public static partial void ProtocolFaulted(ILogger logger, string name, string exceptionType);
}
