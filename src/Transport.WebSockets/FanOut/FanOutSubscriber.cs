using System.Diagnostics;
using Transport.WebSockets.Buffering;

namespace Transport.WebSockets.FanOut;

/// <summary>
/// One consumer of a <see cref="FrameFanOut"/>: its own bounded queue of the frames that matched
/// its filter, read like any <see cref="IFrameSource"/>. Dispose it to detach.
/// </summary>
/// <remarks>
/// <para>
/// Frames are shared, not copied: every subscriber receives the same <see cref="Frame"/> (the same
/// payload memory, epoch and receive time). Treat payloads as read-only.
/// </para>
/// <para>
/// Lease mode (docs/adr/0013): each subscriber owns the leased frames it reads, exactly as a
/// connection's consumer does: call <see cref="Frame.Release"/> once per frame read, after its last
/// read. Every subscriber holds a share of its own on the one pooled buffer, so releasing yours never
/// frees it under another subscriber, and the buffer goes back to the pool when the last share is
/// released. Frames this queue evicts, or that arrive after it detached, are released by the queue; a
/// frame it rejects (<see cref="FanOutDropPolicy.DropNewest"/>) never became its own, and a frame no
/// subscriber takes is released by the fan-out.
/// </para>
/// <para>
/// Single consumer, like the connection's source. After detaching, frames already buffered stay
/// readable and the enumeration ends after them (or throws the error that ended it); in lease mode
/// they are still yours: read and release them, or their buffers go to the GC instead of the pool.
/// </para>
/// </remarks>
public sealed class FanOutSubscriber : IFrameSource, IAsyncDisposable
{
    private readonly FrameFanOut _owner;
    private readonly DropOldestRing _ring;
    private readonly Func<Frame, bool>? _filter;
    private readonly bool _dropNewest;

    // Written by the pump only; read by anyone (Interlocked for torn-free 64-bit reads).
    private long _rejectedNewest;
    private long _filteredOut;

    // 0 attached, 1 detached. Set once.
    private int _detached;

    internal FanOutSubscriber(FrameFanOut owner, string name, FanOutSubscriberOptions options)
    {
        _owner = owner;
        Name = name;
        _ring = new DropOldestRing(options.CapacityFrames, options.CapacityBytes);
        _filter = options.Filter;
        _dropNewest = options.DropPolicy == FanOutDropPolicy.DropNewest;
        DropPolicy = options.DropPolicy;
    }

    /// <summary>The subscriber's name (logs, statistics).</summary>
    public string Name { get; }

    /// <summary>The queue's drop policy.</summary>
    public FanOutDropPolicy DropPolicy { get; }

    /// <summary>True once this subscriber receives no more frames.</summary>
    public bool IsDetached => Volatile.Read(ref _detached) != 0;

    /// <inheritdoc />
    public int Count => _ring.Count;

    /// <inheritdoc />
    public long BufferedBytes => _ring.Bytes;

    /// <summary>The subscriber's counters now (levels and cumulative counts; see <see cref="FanOutSubscriberStats"/>).</summary>
    public FanOutSubscriberStats Stats
    {
        get
        {
            long rejected = Interlocked.Read(ref _rejectedNewest);

            // Each field is exact on its own; the sum rule (FanOut.F1) holds between them at any
            // quiescent point (pump and reader idle), not necessarily mid-flight.
            int buffered = _ring.Count;
            long bufferedBytes = _ring.Bytes;
            long delivered = _ring.TotalRead;
            long lagged = _ring.TotalLagged;
            long written = _ring.TotalWritten;
            return new FanOutSubscriberStats(
                Name,
                Offered: written + rejected,
                Delivered: delivered,
                Dropped: lagged + rejected,
                Buffered: buffered,
                BufferedBytes: bufferedBytes,
                FilteredOut: Interlocked.Read(ref _filteredOut),
                Detached: IsDetached);
        }
    }

    /// <inheritdoc />
    public bool TryRead(out Frame frame) => _ring.TryRead(out frame);

    /// <inheritdoc />
    /// <exception cref="TransportException">The connection's source ended with this error (after the buffered frames).</exception>
    /// <exception cref="FanOutFilterException">This subscriber's filter threw (after the buffered frames).</exception>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => _ring.WaitToReadAsync(cancellationToken);

    /// <inheritdoc />
    public async IAsyncEnumerator<Frame> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        while (await _ring.WaitToReadAsync(cancellationToken))
        {
            while (_ring.TryRead(out var frame))
            {
                yield return frame;
            }
        }
    }

    /// <summary>Detaches: no frame is offered after this returns; buffered frames stay readable.</summary>
    /// <returns>Completed.</returns>
    public ValueTask DisposeAsync()
    {
        _owner.Detach(this, error: null);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override string ToString()
    {
        var stats = Stats;
        return $"{Name}: offered={stats.Offered} delivered={stats.Delivered} dropped={stats.Dropped} buffered={stats.Buffered}{(stats.Detached ? " detached" : string.Empty)}";
    }

    /// <summary>
    /// Whether this subscriber takes <paramref name="frame"/>: its filter (which only borrows the frame),
    /// then, under <see cref="FanOutDropPolicy.DropNewest"/>, room in its queue. Pump only: never waits
    /// (FanOut.F3). A filter that threw is handed back in <paramref name="fault"/> for the pump to detach
    /// this subscriber; the frame was not taken.
    /// </summary>
    internal bool Accepts(in Frame frame, out Exception? fault)
    {
        fault = null;
        if (_filter is not null)
        {
            bool match;
            try
            {
                match = _filter(frame);
            }
            catch (Exception ex)
            {
                fault = ex;
                return false;
            }

            if (!match)
            {
                Interlocked.Increment(ref _filteredOut);
                return false;
            }
        }

        if (_dropNewest && !Fits(frame.Length))
        {
            // The pump is the only writer, so the queue can only shrink between this check and
            // the write that follows: a frame rejected here never would have been evicted-for.
            if (!_ring.IsCompleted)
            {
                Interlocked.Increment(ref _rejectedNewest);
            }

            return false;
        }

        return true;
    }

    /// <summary>
    /// Queues a frame this subscriber accepted. Pump only. The queue owns it from here (ADR 0013): it
    /// releases a leased frame it evicts, or one that arrives after the subscriber detached.
    /// </summary>
    internal void Admit(Frame frame) => _ring.Write(frame);

    /// <summary>Offers one frame the caller keeps (owned frames only: a benchmark's shortcut).</summary>
    /// <returns>The filter's exception, if it threw.</returns>
    internal Exception? Offer(in Frame frame)
    {
        Debug.Assert(!frame.IsLeased, "a leased frame goes through FrameFanOut.Route, which gives each subscriber its own hold");
        if (Accepts(frame, out Exception? fault))
        {
            Admit(frame);
        }

        return fault;
    }

    /// <summary>Ends the queue (the first call wins). Returns false when already detached.</summary>
    internal bool MarkDetached(Exception? error)
    {
        if (Interlocked.Exchange(ref _detached, 1) != 0)
        {
            return false;
        }

        _ring.Complete(error);
        return true;
    }

    // DropNewest admission: the same bounds as the ring, without evicting. An empty queue admits
    // any frame (as drop-oldest does), so a frame larger than the byte budget is not starved.
    private bool Fits(int length)
    {
        int count = _ring.Count;
        if (count == 0)
        {
            return true;
        }

        return count < _ring.CapacityFrames && _ring.Bytes + length <= _ring.CapacityBytes;
    }
}
