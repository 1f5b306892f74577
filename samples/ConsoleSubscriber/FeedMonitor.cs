using Transport;

namespace ConsoleSubscriber;

/// <summary>
/// Watches the connection's lifecycle for the view: reconnects, total time down, frames per
/// second, and a short history of events. Thread-safe; the view reads it on its own timer.
/// </summary>
internal sealed class FeedMonitor
{
    private readonly ReconnectingConnection _connection;
    private readonly Func<long> _frames;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly Queue<(long Timestamp, long Frames)> _samples = new(); // guarded by _gate
    private TimeSpan _downTotal; // guarded by _gate: completed down periods
    private DateTimeOffset? _downSince; // guarded by _gate
    private readonly List<TimeSpan> _outages = []; // guarded by _gate: LastOutage of every reconnect, in order

    public FeedMonitor(ReconnectingConnection connection, Func<long> frames, TimeProvider time)
    {
        _connection = connection;
        _frames = frames;
        _time = time;
    }

    /// <summary>Lifecycle changes worth a line: phase or epoch changed.</summary>
    public event Action<LifecycleSnapshot>? Changed;

    /// <summary>An attempt failed while the feed was down (attempts advanced, still not up): the snapshot carries its error.</summary>
    public event Action<LifecycleSnapshot>? AttemptFailed;

    /// <summary>True once the feed has been up at least once.</summary>
    public bool EverUp { get; private set; }

    public LifecycleSnapshot Current => _connection.Lifecycle.Current;

    /// <summary>Total time spent not up, the current outage included.</summary>
    public TimeSpan TimeDown
    {
        get
        {
            lock (_gate) return _downTotal + (_downSince is { } since ? _time.GetUtcNow() - since : TimeSpan.Zero);
        }
    }

    /// <summary>Each completed reconnect's outage (the stack's <see cref="LifecycleSnapshot.LastOutage"/>: down-edge to up-edge), in order.</summary>
    public IReadOnlyList<TimeSpan> Outages
    {
        get
        {
            lock (_gate) return [.. _outages];
        }
    }

    /// <summary>Frames per second over roughly the last second; call about 4 times a second.</summary>
    public double SampleFramesPerSecond()
    {
        var now = _time.GetTimestamp();
        var frames = _frames();
        lock (_gate)
        {
            _samples.Enqueue((now, frames));
            while (_samples.Count > 2 && _time.GetElapsedTime(_samples.Peek().Timestamp, now) > TimeSpan.FromSeconds(1)) _samples.Dequeue();
            var (oldT, oldF) = _samples.Peek();
            var seconds = _time.GetElapsedTime(oldT, now).TotalSeconds;
            return seconds > 0 ? (frames - oldF) / seconds : 0;
        }
    }

    /// <summary>Follows the lifecycle until it is terminal or <paramref name="cancellationToken"/> fires.</summary>
    public async Task WatchAsync(CancellationToken cancellationToken)
    {
        long version = -1;
        var last = (Phase: (ConnectionPhase?)null, Epoch: -1L, Error: (TransportException?)null);
        try
        {
            while (true)
            {
                var s = await _connection.Lifecycle.WaitForChangeAsync(version, cancellationToken).ConfigureAwait(false);
                version = s.Version;
                lock (_gate)
                {
                    // DownSince is set while not up; when it clears, that outage is over.
                    if (_downSince is { } since && s.DownSince is null) _downTotal += _time.GetUtcNow() - since;
                    _downSince = s.DownSince;
                    if (s.Phase == ConnectionPhase.Resumed && s.Epoch != last.Epoch && s.LastOutage is { } outage) _outages.Add(outage);
                }
                if (s.IsUp) EverUp = true;
                if (s.Phase != last.Phase || s.Epoch != last.Epoch) Changed?.Invoke(s);
                // A failed attempt publishes its error with Attempts still counting it (the next attempt's
                // start advances Attempts later, keeping that error): a new error object is a new failure,
                // and Attempts then names the attempt that failed.
                else if (!s.IsUp && !s.IsTerminal && s.LastError is not null && !ReferenceEquals(s.LastError, last.Error)) AttemptFailed?.Invoke(s);
                last = (s.Phase, s.Epoch, s.LastError);
                if (s.IsTerminal) return;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
