namespace TradingAdapters;

/// <summary>
/// Connection-wide counters of an adapter (per-topic ones live in <see cref="State.TopicBook"/>).
/// Plain fields updated with Interlocked: the pump, the watcher and the timers write, views read.
/// </summary>
public sealed class AdapterCounters
{
    private long _frames, _unparsed, _gaps, _resubscribes, _replays, _reconciles, _rotations, _pings, _pongs, _sendFailures;

    /// <summary>Data frames read from the source.</summary>
    public long Frames => Interlocked.Read(ref _frames);

    /// <summary>Frames that were not a JSON message with a type.</summary>
    public long Unparsed => Interlocked.Read(ref _unparsed);

    /// <summary>Sequence gaps detected (all topics).</summary>
    public long Gaps => Interlocked.Read(ref _gaps);

    /// <summary>Single-topic resubscribes (gap or staleness); the connection stayed up.</summary>
    public long Resubscribes => Interlocked.Read(ref _resubscribes);

    /// <summary>Epochs on which every subscription was replayed (the first subscribe included).</summary>
    public long Replays => Interlocked.Read(ref _replays);

    /// <summary>Reconciles: snapshot requests for every topic after the receive ring dropped frames.</summary>
    public long Reconciles => Interlocked.Read(ref _reconciles);

    /// <summary>Proactive reconnects before the venue's connection lifetime ran out.</summary>
    public long Rotations => Interlocked.Read(ref _rotations);

    /// <summary>Application pings sent.</summary>
    public long PingsSent => Interlocked.Read(ref _pings);

    /// <summary>Application pongs received.</summary>
    public long Pongs => Interlocked.Read(ref _pongs);

    /// <summary>Sends that failed (stale epoch, shutdown); expected around reconnects.</summary>
    public long SendFailures => Interlocked.Read(ref _sendFailures);

    internal void Frame() => Interlocked.Increment(ref _frames);
    internal void NotParsed() => Interlocked.Increment(ref _unparsed);
    internal void Gap() => Interlocked.Increment(ref _gaps);
    internal void Resubscribe() => Interlocked.Increment(ref _resubscribes);
    internal void Replay() => Interlocked.Increment(ref _replays);
    internal void Reconcile() => Interlocked.Increment(ref _reconciles);
    internal void Rotation() => Interlocked.Increment(ref _rotations);
    internal void Ping() => Interlocked.Increment(ref _pings);
    internal void Pong() => Interlocked.Increment(ref _pongs);
    internal void SendFailed() => Interlocked.Increment(ref _sendFailures);
}
