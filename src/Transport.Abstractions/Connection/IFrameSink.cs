namespace Transport;

/// <summary>Which send lane a frame joins. The writer always serves <see cref="Control"/> first.</summary>
public enum SendLane : byte
{
    /// <summary>Ordinary data (subscriptions, orders).</summary>
    Data = 0,

    /// <summary>Urgent frames (application pings, close) that must not wait behind data.</summary>
    Control = 1,
}

/// <summary>What happens to a frame whose write was interrupted (started, not completed).</summary>
/// <remarks>
/// A write is interrupted when the socket fails during it, when it does not complete within
/// <c>Send.WriteTimeout</c> (the socket is then treated as dead and rebuilt), or when the session
/// ends while it is in flight. The transport cannot know whether the peer received such a frame.
/// </remarks>
public enum SendDelivery : byte
{
    /// <summary>
    /// Resent: the frame goes back to the head of its lane and is written again on the next
    /// connection (unless pinned to the ended epoch). The peer may receive it twice. The default:
    /// right for idempotent frames (subscribe, unsubscribe, heartbeats).
    /// </summary>
    AtLeastOnce = 0,

    /// <summary>
    /// Never resent: the send fails with <see cref="TransportErrorKind.WriteInterrupted"/>, and the
    /// adapter reconciles (for example queries its open orders) before deciding to send again. For
    /// commands that must not be duplicated, such as order placement.
    /// </summary>
    AtMostOnce = 1,
}

/// <summary>How one frame is sent.</summary>
/// <param name="Lane">The lane.</param>
/// <param name="PinnedEpoch">
/// When set, the frame is only valid on that epoch's connection: if that connection ends before
/// the frame reaches its socket, the send fails with <see cref="TransportErrorKind.StaleEpoch"/>
/// instead of going out on the next connection.
/// </param>
/// <param name="Delivery">Whether a frame whose write was interrupted is resent (default) or failed.</param>
public readonly record struct SendOptions(SendLane Lane = SendLane.Data, long? PinnedEpoch = null, SendDelivery Delivery = SendDelivery.AtLeastOnce)
{
    /// <summary>Data lane, delivered on whatever connection is up next.</summary>
    public static SendOptions Default => default;

    /// <summary>The control lane.</summary>
    public static SendOptions Urgent => new(SendLane.Control);

    /// <summary>Data lane, pinned to <paramref name="epoch"/>.</summary>
    /// <param name="epoch">The epoch the frame belongs to.</param>
    /// <returns>The options.</returns>
    public static SendOptions PinnedTo(long epoch) => new(SendLane.Data, epoch);

    /// <summary>Data lane, never resent after an interrupted write (order commands).</summary>
    public static SendOptions AtMostOnce => new(SendLane.Data, null, SendDelivery.AtMostOnce);
}

/// <summary>Why <see cref="IFrameSink.TrySend"/> accepted or refused a frame.</summary>
public enum SendStatus
{
    /// <summary>Queued.</summary>
    Accepted,

    /// <summary>The queue is at its frame or byte bound.</summary>
    Full,

    /// <summary>The connection is shut down or unrecoverable.</summary>
    Closed,

    /// <summary>The frame is pinned to an epoch that has already ended.</summary>
    StaleEpoch,

    /// <summary>
    /// The frame alone is larger than the queue's byte bound, is not Text or Binary, or is a Text frame
    /// whose payload is not valid UTF-8 (RFC 6455 5.6: a peer would close with 1007). Nothing was queued.
    /// </summary>
    Invalid,
}

/// <summary>
/// The send side of a reconnecting connection. Stable across reconnects: an adapter acquires it
/// once. Frames queued while the feed is down go out on the next connection (unless pinned).
/// </summary>
public interface IFrameSink
{
    /// <summary>
    /// Queues a frame, waiting for queue space, and completes when the frame has been written to
    /// a socket (after any rate-limit wait).
    /// </summary>
    /// <param name="frame">A text or binary frame. The payload must not change until the send completes.</param>
    /// <param name="options">Lane and epoch pinning.</param>
    /// <param name="cancellationToken">Cancels the wait; a frame not yet written is then withdrawn.</param>
    /// <returns>Completes when written.</returns>
    /// <exception cref="ArgumentException">
    /// Thrown at the call, with nothing queued: the frame is not Text or Binary, is larger than the send
    /// queue's byte bound, or is a Text frame whose payload is not valid UTF-8.
    /// </exception>
    /// <exception cref="TransportException">
    /// StaleEpoch (pinned epoch ended), Shutdown (connection closed first), Cancelled.
    /// </exception>
    ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default);

    /// <summary>Queues a data-lane frame; see <see cref="SendAsync(Frame, SendOptions, CancellationToken)"/>.</summary>
    /// <param name="frame">A text or binary frame.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Completes when written.</returns>
    ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default);

    /// <summary>
    /// Queues a batch of frames that go out on one socket, contiguously and in order, on one lane:
    /// no other frame is written between the first and the last (Batch.B1). Completes when every
    /// frame has been written.
    /// </summary>
    /// <param name="frames">Text or binary frames (at least one). The list is copied; payloads must not change until the send completes.</param>
    /// <param name="options">Lane and epoch pinning, for the whole batch.</param>
    /// <param name="cancellationToken">Cancels the wait while the batch is queued; once its first frame is being written, the batch is finished, not cut.</param>
    /// <returns>Completes when all frames were written.</returns>
    /// <remarks>
    /// <para>
    /// All or a clear failure: a failure before the first frame is written (validation, stale epoch,
    /// shutdown, cancellation) writes nothing and throws as <see cref="SendAsync(Frame, SendOptions, CancellationToken)"/>
    /// does. A socket that fails before the first write completes leaves the batch queued, whole, for the
    /// next connection (unless pinned). A socket that fails after one or more frames were written fails the
    /// batch with <see cref="SendBatchException"/>, whose <see cref="SendBatchException.FramesWritten"/> says
    /// exactly how many; the rest is not sent anywhere.
    /// </para>
    /// <para>
    /// Under a send rate limit every frame of the batch takes a token, and the writer waits for each
    /// one inside the batch: nothing interleaves, so a batch longer than the limit's window holds the
    /// writer (pongs included) until its last frame is out. Keep batches within the window to send them
    /// back to back.
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentException">The batch is empty, holds a control frame or a Text frame that is not valid UTF-8, or alone exceeds the send queue's frame or byte bound.</exception>
    /// <exception cref="TransportException">StaleEpoch, Shutdown or Cancelled, with nothing written.</exception>
    /// <exception cref="SendBatchException">The socket failed after some frames were written.</exception>
    /// <exception cref="NotSupportedException">
    /// This sink cannot guarantee contiguity (the default for implementations written before batches
    /// existed: a sink must refuse a batch rather than emulate it with separate sends).
    /// </exception>
    ValueTask SendBatchAsync(IReadOnlyList<Frame> frames, SendOptions options = default, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not support atomic batches; the transport's own sinks do.");

    /// <summary>
    /// Queues a frame without waiting. A frame accepted here that later cannot be written (its
    /// pinned epoch ended, or the connection shut down) is counted in <see cref="FailedAfterAccept"/>
    /// and logged, never dropped silently.
    /// </summary>
    /// <param name="frame">A text or binary frame.</param>
    /// <param name="options">Lane and epoch pinning.</param>
    /// <returns>Whether it was queued, and if not, why.</returns>
    SendStatus TrySend(Frame frame, SendOptions options = default);

    /// <summary>Frames waiting in the queue (both lanes).</summary>
    int QueuedFrames { get; }

    /// <summary>Payload bytes waiting in the queue (both lanes).</summary>
    long QueuedBytes { get; }

    /// <summary>Cumulative frames accepted by <see cref="TrySend"/> that then failed (stale epoch or shutdown).</summary>
    long FailedAfterAccept { get; }
}
