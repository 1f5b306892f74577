namespace TradingAdapters;

/// <summary>
/// Connection-wide counters of an adapter (per-topic ones live in <see cref="State.TopicBook"/>).
/// Plain fields updated with Interlocked: the pump, the watcher and the timers write, views read.
/// <see cref="Changed"/> is pulsed after every counter change and after every frame the adapter
/// handled (its <see cref="State.TopicBook"/> updated too), so a view or a test waits for a
/// condition with <see cref="WaitForAsync"/> instead of polling.
/// </summary>
public sealed class AdapterCounters
{
    private long _frames, _unparsed, _gaps, _resubscribes, _replays, _reconciles, _rotations, _pings, _pongs, _sendFailures;

    /// <summary>Pulsed after every change of these counters or of the adapter's book.</summary>
    public ChangeSignal Changed { get; } = new();

    /// <summary>
    /// Completes once <paramref name="condition"/> (over these counters, the adapter's book, anything
    /// the adapter changes) holds: evaluated now and after every change.
    /// </summary>
    public Task WaitForAsync(Func<bool> condition, CancellationToken cancellationToken = default) =>
        Changed.WaitForAsync(condition, cancellationToken);

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

    // Frame() does not pulse: the frame's handling pulses once it is done (FeedAdapter.HandleFrame).
    internal void Frame() => Interlocked.Increment(ref _frames);
    internal void NotParsed() => Interlocked.Increment(ref _unparsed);
    internal void Gap() => Bump(ref _gaps);
    internal void Resubscribe() => Bump(ref _resubscribes);
    internal void Replay() => Bump(ref _replays);
    internal void Reconcile() => Bump(ref _reconciles);
    internal void Rotation() => Bump(ref _rotations);
    internal void Ping() => Bump(ref _pings);
    internal void Pong() => Interlocked.Increment(ref _pongs);
    internal void SendFailed() => Bump(ref _sendFailures);

    private void Bump(ref long counter)
    {
        Interlocked.Increment(ref counter);
        Changed.Pulse();
    }
}
