using Transport.WebSockets.Buffering;

namespace Transport.WebSockets.Pool;

/// <summary>
/// The pool's merged source: the data frames of every connection, each with the connection it came
/// from (its epoch and receive time stay on the frame), in per-connection order.
/// </summary>
/// <remarks>
/// <para>
/// Bounded by <see cref="ConnectionPoolOptions.MergedCapacityFrames"/> frames and
/// <see cref="ConnectionPoolOptions.MergedCapacityBytes"/> payload bytes (the newest frame is admitted
/// alone even when larger): the pool moves each connection's frames here as they arrive, so these
/// bounds, not the connections' own rings, limit what a slow pool consumer holds. On overflow the
/// oldest frames are dropped and counted in <see cref="TotalDropped"/> (and
/// <see cref="PoolSnapshot.MergedDropped"/>); each connection's ring keeps counting its own drops in
/// <see cref="LifecycleSnapshot.TotalLagged"/>.
/// </para>
/// <para>
/// Lease mode (docs/adr/0013): a frame read here is the reader's, to release once after its last read;
/// frames this source drops are released by it. Single consumer. Ends when the pool is disposed, after
/// the frames the connections still held then.
/// </para>
/// </remarks>
public sealed class PoolSource : IAsyncEnumerable<PooledFrame>
{
    // Tagged with the connection's slot (Ring.I13); written by every member's pump, read by the consumer.
    private readonly DropOldestRing _ring;

    internal PoolSource(int capacityFrames, long capacityBytes) =>
        _ring = new DropOldestRing(capacityFrames, capacityBytes, tagged: true);

    /// <summary>Cumulative frames dropped by the merged queue (oldest first, over either bound).</summary>
    public long TotalDropped => _ring.TotalLagged;

    /// <summary>Frames buffered now.</summary>
    public int Count => _ring.Count;

    /// <summary>Payload bytes buffered now.</summary>
    public long BufferedBytes => _ring.Bytes;

    /// <summary>Takes a buffered frame without waiting.</summary>
    /// <param name="frame">The frame, when one was buffered. In lease mode, release it once done.</param>
    /// <returns>True when a frame was taken.</returns>
    public bool TryRead(out PooledFrame frame)
    {
        if (_ring.TryRead(out Frame read, out int connection))
        {
            frame = new PooledFrame(connection, read);
            return true;
        }

        frame = default;
        return false;
    }

    /// <summary>Waits until a frame is buffered or the pool has ended.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>True when a frame can be read; false once the pool was disposed and the queue drained.</returns>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => _ring.WaitToReadAsync(cancellationToken);

    /// <inheritdoc />
    public async IAsyncEnumerator<PooledFrame> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        while (await _ring.WaitToReadAsync(cancellationToken))
        {
            while (TryRead(out var frame))
            {
                yield return frame;
            }
        }
    }

    /// <summary>Hands a frame to the merged queue, which owns it from here (ADR 0013). Any member's pump.</summary>
    internal void Write(in PooledFrame frame) => _ring.Write(frame.Frame, frame.Connection);

    internal void Complete() => _ring.Complete();

    /// <summary>Leased frames this source released itself (dropped). For tests.</summary>
    internal long LeasesReleased => _ring.LeasesReleased;
}
