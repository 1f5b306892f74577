using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.Pool;

/// <summary>
/// One connection of the pool: its share of keys, what it has subscribed on its current epoch, the
/// session initializer that replays the share on every new socket (Pool.P3) and the loop that sends
/// the changes made while the socket is up (Pool.P4). Runs on the pool's spawner.
/// </summary>
internal sealed class PoolMember : ISessionInitializer
{
    private readonly ISubscriptionProtocol _protocol;
    private readonly ILogger _logger;

    // Guarded by _lock: the share (what should be subscribed) and what is subscribed on _syncedEpoch.
    private readonly Lock _lock = new();
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _subscribed = new(StringComparer.Ordinal);
    private long _syncedEpoch = -1;
    private long _replayedEpoch = -1;
    private long _failedEpoch = -1;
    private int _inFlight;

    // Completed to wake the loop (lifecycle change or share change); swapped by the loop.
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _lost;
    private ReconnectingConnection? _connection;

    public PoolMember(int index, string name, ISubscriptionProtocol protocol, ILogger logger)
    {
        Index = index;
        Name = name;
        _protocol = protocol;
        _logger = logger;
    }

    public int Index { get; }

    public string Name { get; }

    /// <summary>The connection; set once, right after it was started with this member as its initializer.</summary>
    public ReconnectingConnection Connection
    {
        get => _connection ?? throw new InvalidOperationException("The pool member has no connection yet.");
        set => _connection = value;
    }

    public bool IsLost => _lost;

    /// <summary>True once a socket of this connection was initialized (its share replayed), hence came up.</summary>
    public bool EverUp
    {
        get { lock (_lock) { return _replayedEpoch >= 0; } }
    }

    public int Count
    {
        get { lock (_lock) { return _keys.Count; } }
    }

    public List<string> Keys()
    {
        lock (_lock)
        {
            return [.. _keys];
        }
    }

    public void Add(string key)
    {
        lock (_lock)
        {
            _keys.Add(key);
        }

        Signal();
    }

    public void Remove(string key)
    {
        lock (_lock)
        {
            _keys.Remove(key);
        }

        Signal();
    }

    public PoolConnectionState State()
    {
        var now = Connection.Lifecycle.Current;
        lock (_lock)
        {
            bool inSync = _replayedEpoch == now.Epoch && _syncedEpoch == now.Epoch && _inFlight == 0 && _subscribed.SetEquals(_keys);
            return new PoolConnectionState(Index, Name, now.Phase, now.Epoch, now.DownSince, _keys.Count, _replayedEpoch, inSync);
        }
    }

    /// <summary>
    /// Pool.P3: runs inside the session of every new socket, after the connector's own initializer
    /// (login), before queued data and before the up-edge: subscribes exactly this member's share on
    /// the context's pinned sink, as one batch. A failure fails the socket's initialization (the
    /// connection retries with backoff; the next socket replays again).
    /// </summary>
    public async ValueTask InitializeAsync(ISessionContext context, CancellationToken cancellationToken)
    {
        List<string> share;
        lock (_lock)
        {
            _syncedEpoch = context.Epoch;
            _subscribed.Clear();
            share = [.. _keys.Order(StringComparer.Ordinal)];
            _subscribed.UnionWith(share);
            _inFlight++;
        }

        bool done = false;
        try
        {
            if (share.Count > 0)
            {
                IReadOnlyList<Frame> frames;
                try
                {
                    frames = _protocol.Subscribe(share);
                }
                catch (Exception ex)
                {
                    // The adapter's grammar threw: logged by type (its message may hold anything).
                    PoolLog.ProtocolFaulted(_logger, Name, ex.GetType().Name);
                    throw;
                }

                // No ConfigureAwait(false): this runs on the connection's scheduler (ADR 0003).
                await context.Sink.SendBatchAsync(frames, default, cancellationToken);
            }

            done = true;
        }
        finally
        {
            lock (_lock)
            {
                _inFlight--;
                if (done)
                {
                    _replayedEpoch = Math.Max(_replayedEpoch, context.Epoch);
                }
                else if (_syncedEpoch == context.Epoch)
                {
                    // Nothing is known to be subscribed on this socket: the next socket replays the share.
                    _syncedEpoch = -1;
                    _subscribed.Clear();
                }
            }

            // Changes made while the replay ran are sent from the loop once the socket is up.
            Signal();
        }
    }

    /// <summary>Sends the changes made while up; true when the connection became Unrecoverable.</summary>
    public async Task<bool> RunAsync(CancellationToken stop)
    {
        using var observer = Connection.Lifecycle.Subscribe(new SignalObserver(this));
        using var onStop = stop.UnsafeRegister(static state => ((PoolMember)state!).Signal(), this);
        while (true)
        {
            var wake = Volatile.Read(ref _signal);
            var now = Connection.Lifecycle.Current;
            if (now.Phase == ConnectionPhase.Unrecoverable)
            {
                _lost = true;
                return true;
            }

            if (now.IsTerminal || stop.IsCancellationRequested)
            {
                return false;
            }

            if (now.IsUp && now.Epoch != Volatile.Read(ref _failedEpoch))
            {
                await SyncChangesAsync(now.Epoch, stop);
            }

            // Awaited directly (not WaitAsync): the continuation comes back to this loop's scheduler
            // without a thread-pool hop, so a pumped test steps it (ADR 0003). Disposal signals too.
            await wake.Task;

            Interlocked.CompareExchange(ref _signal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), wake);
        }
    }

    /// <summary>
    /// Moves the connection's frames into the merged source, tagged with this slot (Pool.P6), until the
    /// connection's source ends (shut down by the pool's disposal, or unrecoverable), after its last
    /// buffered frame. Each frame's hold passes to the merged source (ADR 0013, Pool.P10).
    /// </summary>
    public async Task PumpAsync(PoolSource merged)
    {
        try
        {
            var source = Connection.Source;
            while (await source.WaitToReadAsync())
            {
                while (source.TryRead(out var frame))
                {
                    merged.Write(new PooledFrame(Index, frame));
                }
            }
        }
        catch (TransportException)
        {
            // The connection became unrecoverable (after its buffered frames): the lifecycle loop handles it.
        }
    }

    // Pool.P4: only on the epoch the initializer replayed; a lifecycle snapshot naming another epoch is
    // stale or not yet replayed, and the initializer of that socket owns its whole share.
    private async ValueTask SyncChangesAsync(long epoch, CancellationToken stop)
    {
        List<string> subscribe;
        List<string> unsubscribe;
        lock (_lock)
        {
            if (epoch != _syncedEpoch || _replayedEpoch != epoch)
            {
                return;
            }

            subscribe = [.. _keys.Where(k => !_subscribed.Contains(k)).Order(StringComparer.Ordinal)];
            unsubscribe = [.. _subscribed.Where(k => !_keys.Contains(k)).Order(StringComparer.Ordinal)];
            if (subscribe.Count == 0 && unsubscribe.Count == 0)
            {
                return;
            }

            // Optimistic: counted as subscribed now so a concurrent pass never sends them twice; a
            // failure below stops changes on this epoch and the next socket replays the whole share.
            _subscribed.UnionWith(subscribe);
            _subscribed.ExceptWith(unsubscribe);
            _inFlight++;
        }

        try
        {
            var options = SendOptions.PinnedTo(epoch);
            if (unsubscribe.Count > 0)
            {
                await Connection.Sink.SendBatchAsync(_protocol.Unsubscribe(unsubscribe), options, stop);
            }

            if (subscribe.Count > 0)
            {
                await Connection.Sink.SendBatchAsync(_protocol.Subscribe(subscribe), options, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The pool is disposed.
        }
        catch (Exception ex) when (ex is TransportException or SendBatchException)
        {
            // The socket ended under the change (stale epoch, or cut mid-batch): the next socket's
            // initializer replays the whole share.
            Volatile.Write(ref _failedEpoch, epoch);
            PoolLog.ReplayFailed(_logger, Name, epoch, (ex as TransportException)?.Kind.ToString() ?? ex.GetType().Name);
        }
        catch (Exception ex)
        {
            // The adapter's protocol threw, or built frames the sink refuses: logged by type; this
            // epoch takes no more changes (the state says not in sync) and the next socket replays.
            Volatile.Write(ref _failedEpoch, epoch);
            PoolLog.ProtocolFaulted(_logger, Name, ex.GetType().Name);
        }
        finally
        {
            lock (_lock)
            {
                _inFlight--;
                if (Volatile.Read(ref _failedEpoch) == epoch && _syncedEpoch == epoch)
                {
                    _syncedEpoch = -1;
                    _subscribed.Clear();
                }
            }
        }
    }

    private void Signal() => Volatile.Read(ref _signal).TrySetResult();

    private sealed class SignalObserver(PoolMember member) : IObserver<LifecycleSnapshot>
    {
        public void OnCompleted() => member.Signal();

        public void OnError(Exception error) => member.Signal();

        public void OnNext(LifecycleSnapshot value) => member.Signal();
    }
}
