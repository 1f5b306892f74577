using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.Pool;

/// <summary>
/// One connection of the pool: its share of keys, what it has subscribed on its current epoch, and
/// the loop that keeps the two equal (Pool.P3, Pool.P4). Runs on the pool's spawner.
/// </summary>
internal sealed class PoolMember
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

    // Completed to wake the loop (lifecycle change or share change); swapped by the loop.
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _lost;

    public PoolMember(int index, string name, ReconnectingConnection connection, ISubscriptionProtocol protocol, ILogger logger)
    {
        Index = index;
        Name = name;
        Connection = connection;
        _protocol = protocol;
        _logger = logger;
    }

    public int Index { get; }

    public string Name { get; }

    public ReconnectingConnection Connection { get; }

    public bool IsLost => _lost;

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
            return new PoolConnectionState(Index, Name, now.Phase, now.Epoch, now.DownSince, _keys.Count, _replayedEpoch);
        }
    }

    /// <summary>Keeps the socket's subscriptions equal to the share. True when the connection became Unrecoverable.</summary>
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

            if (now.IsUp && now.Epoch != _failedEpoch)
            {
                await SyncAsync(now.Epoch, stop);
            }

            // Awaited directly (not WaitAsync): the continuation comes back to this loop's scheduler
            // without a thread-pool hop, so a pumped test steps it (ADR 0003). Disposal signals too.
            await wake.Task;

            Interlocked.CompareExchange(ref _signal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), wake);
        }
    }

    /// <summary>Copies the connection's frames into the merged source, tagged with this slot (Pool.P6).</summary>
    public async Task PumpAsync(PoolSource merged, CancellationToken stop)
    {
        try
        {
            var source = Connection.Source;
            while (await source.WaitToReadAsync(stop))
            {
                while (source.TryRead(out var frame))
                {
                    merged.Write(new PooledFrame(Index, frame));
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The pool is disposed.
        }
        catch (TransportException)
        {
            // The connection became unrecoverable: the lifecycle loop handles it.
        }
    }

    // One pass: a new epoch gets the whole share (P3); the same epoch gets the difference (P4).
    private async ValueTask SyncAsync(long epoch, CancellationToken stop)
    {
        List<string> subscribe;
        List<string> unsubscribe;
        bool replay;
        lock (_lock)
        {
            replay = epoch != _syncedEpoch;
            if (replay)
            {
                _syncedEpoch = epoch;
                _subscribed.Clear();
            }

            subscribe = [.. _keys.Where(k => !_subscribed.Contains(k)).Order(StringComparer.Ordinal)];
            unsubscribe = [.. _subscribed.Where(k => !_keys.Contains(k)).Order(StringComparer.Ordinal)];

            // Optimistic: counted as subscribed now so a concurrent pass never sends them twice; a
            // failure below forgets the epoch and the next epoch replays the whole share.
            _subscribed.UnionWith(subscribe);
            _subscribed.ExceptWith(unsubscribe);
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

            if (replay)
            {
                lock (_lock)
                {
                    _replayedEpoch = Math.Max(_replayedEpoch, epoch);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The pool is disposed.
        }
        catch (Exception ex) when (ex is TransportException or SendBatchException)
        {
            // The socket ended under the replay (stale epoch, or cut mid-batch): its successor's
            // up-edge replays the whole share.
            _failedEpoch = epoch;
            PoolLog.ReplayFailed(_logger, Name, epoch, (ex as TransportException)?.Kind.ToString() ?? ex.GetType().Name);
        }
        catch (Exception ex)
        {
            // The adapter's protocol threw, or built frames the sink refuses: logged by type, retried next epoch.
            _failedEpoch = epoch;
            PoolLog.ProtocolFaulted(_logger, Name, ex.GetType().Name);
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
