namespace Transport.WebSockets.Sending;

/// <summary>
/// The adapter-facing send side: validates, asks the <see cref="EpochFence"/> about epoch pinning,
/// and queues into the <see cref="SendQueue"/> the session's writer drains. Stable for the
/// connection's whole life.
/// </summary>
internal sealed class FrameSink : IFrameSink
{
    private readonly SendQueue _queue;
    private readonly EpochFence _fence;

    public FrameSink(SendQueue queue, EpochFence fence)
    {
        _queue = queue;
        _fence = fence;
    }

    public int QueuedFrames => _queue.Count;

    public long QueuedBytes => _queue.Bytes;

    public long FailedAfterAccept => _fence.FailedAfterAccept;

    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) =>
        SendAsync(frame, SendOptions.Default, cancellationToken);

    public ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default)
    {
        Validate(frame, options);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        if (_fence.RefuseEnded(options) is { } stale)
        {
            return ValueTask.FromException(stale);
        }

        var request = new SendRequest(frame, options, tracked: true);
        var enqueued = _queue.EnqueueAsync(request, cancellationToken);
        if (!enqueued.IsCompletedSuccessfully)
        {
            return WaitForRoomThenSendAsync(enqueued, request, cancellationToken);
        }

        // Fast path, no async state machine: the caller awaits the request's own completion.
        WithdrawOnCancel(request, cancellationToken);
        return new ValueTask(request.Completion);
    }

    private async ValueTask WaitForRoomThenSendAsync(ValueTask enqueued, SendRequest request, CancellationToken cancellationToken)
    {
        await enqueued;
        WithdrawOnCancel(request, cancellationToken);
        await request.Completion;
    }

    // Once queued, cancellation withdraws the frame only if the writer has not taken it yet.
    private void WithdrawOnCancel(SendRequest request, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return;
        }

        request.Registration = cancellationToken.Register(static state =>
        {
            var (queue, req, token) = ((SendQueue, SendRequest, CancellationToken))state!;
            if (queue.TryWithdraw(req))
            {
                req.Cancel(token);
            }
        }, (_queue, request, cancellationToken));
    }

    public SendStatus TrySend(Frame frame, SendOptions options = default)
    {
        if (!frame.IsData || !_queue.FitsAtAll(frame.Length))
        {
            return SendStatus.Invalid;
        }

        if (_fence.CheckTrySend(options) is { } refused)
        {
            return refused;
        }

        return _queue.TryEnqueue(new SendRequest(frame, options, tracked: false));
    }

    private void Validate(Frame frame, SendOptions options)
    {
        if (!frame.IsData)
        {
            throw new ArgumentException($"The sink sends Text and Binary frames only; got {frame.Kind}. Close the connection with Control.ShutdownAsync.", nameof(frame));
        }

        if (!_queue.FitsAtAll(frame.Length))
        {
            throw new ArgumentException($"The frame ({frame.Length} B) is larger than the send queue's byte bound (Send.CapacityBytes).", nameof(frame));
        }

        _fence.ThrowIfNotStarted(options, nameof(options));
    }
}
