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

        // I6: the hook goes on before the writer can see the request, so whoever completes it
        // (the writer included, however fast) releases it from the caller's token.
        if (cancellationToken.CanBeCanceled)
        {
            request.Registration = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var (queue, req) = ((SendQueue, SendRequest))state!;
                if (queue.TryWithdraw(req))
                {
                    req.Cancel(token);
                }
            }, (_queue, request));
        }

        // I5: queued or waiting for room, the caller awaits the request's one completion.
        if (_queue.EnqueueOrWait(request) == EnqueueResult.Closed)
        {
            request.Fail(_queue.ClosedError());
        }

        return new ValueTask(request.Completion);
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
