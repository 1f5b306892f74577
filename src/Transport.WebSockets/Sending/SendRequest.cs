namespace Transport.WebSockets.Sending;

/// <summary>
/// One queued frame. <see cref="Completion"/> exists only for <c>SendAsync</c> callers, who
/// learn when the frame reached a socket or why it never will; <c>TrySend</c> frames carry none.
/// </summary>
internal sealed class SendRequest
{
    private readonly TaskCompletionSource? _completion;

    public SendRequest(Frame frame, SendOptions options, bool tracked)
    {
        Frame = frame;
        Options = options;
        FrameCount = 1;
        Bytes = frame.Length;

        // Asynchronous continuations: completing a send must never run the caller's code on the writer.
        _completion = tracked ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null;
    }

    /// <summary>A batch (SendBatchAsync): written contiguously by the writer, always tracked.</summary>
    public SendRequest(Frame[] batch, long bytes, SendOptions options)
        : this(batch[0], options, tracked: true)
    {
        Batch = batch;
        FrameCount = batch.Length;
        Bytes = bytes;
    }

    /// <summary>The frame, or a batch's first frame.</summary>
    public Frame Frame { get; }

    /// <summary>The frames of a batch, in order; null for a single frame.</summary>
    public Frame[]? Batch { get; }

    public SendOptions Options { get; }

    /// <summary>How many queue slots this request takes (1, or the batch's length).</summary>
    public int FrameCount { get; }

    public long Bytes { get; }

    public bool IsTracked => _completion is not null;

    /// <summary>A pong answering a surfaced ping: meaningful only on the socket that saw the ping.</summary>
    public bool IsPong => Frame.Kind == FrameKind.Pong;

    public Task Completion => _completion?.Task ?? Task.CompletedTask;

    /// <summary>
    /// The caller's cancellation hook, attached before the request is handed to the queue (so
    /// whoever completes it sees it, SendQueue I6) and released by every completion.
    /// </summary>
    public CancellationTokenRegistration Registration { get; set; }

    /// <summary>Where the request is in the queue; guarded by the <see cref="SendQueue"/>'s gate.</summary>
    public SendRequestState QueueState { get; set; }

    public void Succeed()
    {
        Registration.Unregister();
        _completion?.TrySetResult();
    }

    /// <summary>Fails the send; returns false for an untracked frame so the caller counts it.</summary>
    public bool Fail(Exception error)
    {
        if (_completion is null)
        {
            return false;
        }

        Registration.Unregister();
        _completion.TrySetException(error);
        return true;
    }

    public void Cancel(CancellationToken token)
    {
        Registration.Unregister();
        _completion?.TrySetCanceled(token);
    }
}

/// <summary>A request's place in the <see cref="SendQueue"/> (producer side).</summary>
internal enum SendRequestState : byte
{
    /// <summary>Not handed to the queue yet.</summary>
    New,

    /// <summary>In the wait-for-room list.</summary>
    WaitingForRoom,

    /// <summary>In a lane, or taken by the writer (a taken request is in no lane).</summary>
    Queued,

    /// <summary>Withdrawn by its sender's cancellation; completed as cancelled.</summary>
    Withdrawn,

    /// <summary>Handed back by Close or an ended pinned epoch, for the caller to fail.</summary>
    Closed,
}
