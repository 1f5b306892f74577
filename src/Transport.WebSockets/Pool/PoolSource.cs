using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Transport.WebSockets.Pool;

/// <summary>
/// The pool's merged source: the data frames of every connection, each with the connection it came
/// from (its epoch and receive time stay on the frame), in per-connection order.
/// </summary>
/// <remarks>
/// Bounded by <see cref="ConnectionPoolOptions.MergedCapacityFrames"/>; on overflow the oldest frame is
/// dropped and counted in <see cref="TotalDropped"/> (each connection's own ring keeps its own byte bound
/// and <see cref="LifecycleSnapshot.TotalLagged"/>). Single consumer. Ends when the pool is disposed.
/// </remarks>
public sealed class PoolSource : IAsyncEnumerable<PooledFrame>
{
    private readonly Channel<PooledFrame> _channel;
    private long _dropped;

    internal PoolSource(int capacity)
    {
        _channel = Channel.CreateBounded<PooledFrame>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = false },
            _ => Interlocked.Increment(ref _dropped));
    }

    /// <summary>Cumulative frames dropped by the merged queue (oldest first).</summary>
    public long TotalDropped => Interlocked.Read(ref _dropped);

    /// <summary>Frames buffered now.</summary>
    public int Count => _channel.Reader.Count;

    /// <summary>Takes a buffered frame without waiting.</summary>
    /// <param name="frame">The frame, when one was buffered.</param>
    /// <returns>True when a frame was taken.</returns>
    public bool TryRead(out PooledFrame frame) => _channel.Reader.TryRead(out frame);

    /// <summary>Waits until a frame is buffered or the pool has ended.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>True when a frame can be read; false once the pool was disposed and the queue drained.</returns>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => _channel.Reader.WaitToReadAsync(cancellationToken);

    /// <inheritdoc />
    public async IAsyncEnumerator<PooledFrame> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        while (await _channel.Reader.WaitToReadAsync(cancellationToken))
        {
            while (_channel.Reader.TryRead(out var frame))
            {
                yield return frame;
            }
        }
    }

    internal void Write(PooledFrame frame) => _channel.Writer.TryWrite(frame);

    internal void Complete() => _channel.Writer.TryComplete();
}
