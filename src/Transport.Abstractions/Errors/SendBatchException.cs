namespace Transport;

/// <summary>
/// A batch sent with <see cref="IFrameSink.SendBatchAsync"/> was cut by its socket failing after
/// some of its frames were written: <see cref="FramesWritten"/> frames went out, in order, and the
/// rest were not sent (here or on any later connection).
/// </summary>
/// <remarks>
/// The frame at index <see cref="FramesWritten"/> was being written when the socket failed; it may
/// or may not have reached the peer. The <see cref="Exception.InnerException"/> is the socket's
/// <see cref="TransportException"/>. The message holds counts only, never payloads.
/// </remarks>
public sealed class SendBatchException : Exception
{
    /// <summary>Creates the error.</summary>
    /// <param name="framesWritten">Frames whose write completed (at least 1).</param>
    /// <param name="batchSize">Frames in the batch.</param>
    /// <param name="inner">Why the socket failed.</param>
    public SendBatchException(int framesWritten, int batchSize, Exception? inner)
        : base($"The socket failed after {framesWritten} of the batch's {batchSize} frames were written; the rest were not sent.", inner)
    {
        FramesWritten = framesWritten;
        BatchSize = batchSize;
    }

    /// <summary>How many frames of the batch were written, from the first, in order.</summary>
    public int FramesWritten { get; }

    /// <summary>How many frames the batch held.</summary>
    public int BatchSize { get; }

    /// <inheritdoc />
    public override string ToString() =>
        $"SendBatchException: {Message}{(InnerException is { } e ? $" (inner: {e.GetType().Name})" : string.Empty)}";
}
