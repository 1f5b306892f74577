namespace Transport;

/// <summary>
/// The receive side of a reconnecting connection: the data frames (Text and Binary) of every
/// epoch, in order, through a drop-oldest ring. Evictions advance
/// <see cref="LifecycleSnapshot.TotalLagged"/>; nothing is dropped without that signal.
/// </summary>
/// <remarks>
/// Single consumer. Enumeration ends when the connection is closed (after the frames still
/// buffered), or throws the terminal <see cref="TransportException"/> when it became unrecoverable.
/// </remarks>
public interface IFrameSource : IAsyncEnumerable<Frame>
{
    /// <summary>Takes a buffered frame without waiting.</summary>
    /// <param name="frame">The frame, when one was buffered.</param>
    /// <returns>True when a frame was taken.</returns>
    bool TryRead(out Frame frame);

    /// <summary>Waits until a frame is buffered or the source has ended.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>True when a frame can be read; false when the source ended normally.</returns>
    /// <exception cref="TransportException">The connection became unrecoverable.</exception>
    ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default);

    /// <summary>Frames buffered now.</summary>
    int Count { get; }

    /// <summary>Payload bytes buffered now.</summary>
    long BufferedBytes { get; }
}
