namespace Transport;

/// <summary>
/// The receive side of a reconnecting connection: the data frames (Text and Binary) of every
/// epoch, in order, through a drop-oldest ring. Evictions advance
/// <see cref="LifecycleSnapshot.TotalLagged"/>; nothing is dropped without that signal.
/// </summary>
/// <remarks>
/// <para>
/// Single consumer. Enumeration ends when the connection is closed (after the frames still
/// buffered), or throws the terminal <see cref="TransportException"/> when it became unrecoverable.
/// </para>
/// <para>
/// Lease mode (docs/adr/0013): every frame a read hands out (<see cref="TryRead"/>,
/// <see cref="TryReadBatch"/>, <see cref="ReadBatchAsync"/>, enumeration) is the reader's, to
/// <see cref="Frame.Release"/> exactly once after its last read; frames the source drops are released
/// by the source. Frames still buffered when the source ends stay readable, and stay the reader's.
/// </para>
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

    /// <summary>
    /// Takes up to <paramref name="destination"/>.Length buffered frames without waiting, oldest
    /// first: the same frames as that many <see cref="TryRead"/> calls, in fewer synchronization
    /// steps (the stack's source takes its lock once per batch).
    /// </summary>
    /// <param name="destination">
    /// Where the frames go. In lease mode the first <c>n</c> (the return value) are the caller's, each to
    /// release once; the elements after them are not written (they may still hold frames of an earlier
    /// call, already released: never release those again).
    /// </param>
    /// <returns>The number of frames taken; 0 when none was buffered.</returns>
    int TryReadBatch(Span<Frame> destination)
    {
        int taken = 0;
        while (taken < destination.Length && TryRead(out Frame frame))
        {
            destination[taken++] = frame;
        }

        return taken;
    }

    /// <summary>
    /// Waits until at least one frame is buffered, then takes as many as fit in
    /// <paramref name="destination"/> (oldest first).
    /// </summary>
    /// <param name="destination">
    /// Where the frames go (at least one element). As for <see cref="TryReadBatch"/>: in lease mode the
    /// first <c>n</c> are the caller's to release, the rest are not written.
    /// </param>
    /// <param name="cancellationToken">Cancels the wait; frames already taken are never lost by it (a cancelled call takes none).</param>
    /// <returns>The number of frames taken; 0 only when the source ended normally.</returns>
    /// <exception cref="TransportException">The connection became unrecoverable (after every buffered frame was read).</exception>
    /// <exception cref="ArgumentException">The destination is empty.</exception>
    async ValueTask<int> ReadBatchAsync(Memory<Frame> destination, CancellationToken cancellationToken = default)
    {
        if (destination.IsEmpty)
        {
            throw new ArgumentException("The destination must hold at least one frame.", nameof(destination));
        }

        while (await WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            int taken = TryReadBatch(destination.Span);
            if (taken > 0)
            {
                return taken;
            }
        }

        return 0;
    }

    /// <summary>Frames buffered now.</summary>
    int Count { get; }

    /// <summary>Payload bytes buffered now.</summary>
    long BufferedBytes { get; }
}
