namespace Transport.WebSockets.Sending;

// Batch invariants (SendBatchAsync here; the writer's half in Connection/Session.cs, WriteBatchAsync;
// tests in tests/Transport.Tests/Sending/SendBatchTests.cs):
//
// Batch.B1: A batch goes out on one socket, contiguously, in order, on one lane: the writer dequeues
//           nothing else (no data, no control lane, no pong) between its first and last frame.
// Batch.B2: All or a clear failure before the first frame is written: an invalid batch (empty, a control
//           frame, larger than the queue's bounds) throws at the call; stale epoch, shutdown and
//           cancellation while queued fail it with nothing written; a socket failing before the first
//           write completes puts the batch back whole at the head of its lane for the next connection
//           (a pinned batch then fails StaleEpoch).
// Batch.B3: A socket failing after k >= 1 frames were written fails the batch with SendBatchException,
//           FramesWritten == k; the remaining frames are sent nowhere.
// Batch.B4: Under a rate limit every frame of a batch takes its own token (the rule holds across the
//           batch); the writer waits for each inside the batch, so nothing interleaves.

// Send.V1 (FrameValidation in Transport.Abstractions): a Text frame that is not valid UTF-8 is refused at the
//           call, before it is queued (TrySend: Invalid; SendAsync and SendBatchAsync: ArgumentException), by
//           this sink and by the session initializer's; the leaves refuse it too (PipeLeaf.W4, Receiver's sender).
//           Test: tests/Transport.Tests/Sending/SendValidationTests.cs.

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

        return Submit(new SendRequest(frame, options, tracked: true), cancellationToken);
    }

    public ValueTask SendBatchAsync(IReadOnlyList<Frame> frames, SendOptions options = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0)
        {
            throw new ArgumentException("A batch holds at least one frame.", nameof(frames));
        }

        // Copied: the caller's list may change after this returns; the frames (and payloads) are shared.
        var batch = new Frame[frames.Count];
        long bytes = 0;
        for (int i = 0; i < batch.Length; i++)
        {
            Frame frame = frames[i];
            if (!frame.IsData)
            {
                throw new ArgumentException($"The sink sends Text and Binary frames only; frame {i} of the batch is {frame.Kind}.", nameof(frames));
            }

            if (!FrameValidation.HasValidText(frame))
            {
                throw new ArgumentException($"Frame {i} of the batch: {FrameValidation.InvalidUtf8Message(frame.Payload.Span)}", nameof(frames)); // Send.V1
            }

            batch[i] = frame;
            bytes += frame.Length;
        }

        if (!_queue.FitsAtAll(batch.Length, bytes))
        {
            throw new ArgumentException($"The batch ({batch.Length} frames, {bytes} B) is larger than the send queue's bounds (Send.CapacityFrames, Send.CapacityBytes): it could never be queued whole.", nameof(frames));
        }

        Validate(batch[0], options);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        if (_fence.RefuseEnded(options) is { } stale)
        {
            return ValueTask.FromException(stale);
        }

        return Submit(new SendRequest(batch, bytes, options), cancellationToken);
    }

    private ValueTask Submit(SendRequest request, CancellationToken cancellationToken)
    {
        // SendQueue.I6: the hook goes on before the writer can see the request, so whoever completes it
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

        // SendQueue.I5: queued or waiting for room, the caller awaits the request's one completion.
        if (_queue.EnqueueOrWait(request) == EnqueueResult.Closed)
        {
            request.Fail(_queue.ClosedError());
        }

        return new ValueTask(request.Completion);
    }

    public SendStatus TrySend(Frame frame, SendOptions options = default)
    {
        if (!frame.IsData || !_queue.FitsAtAll(frame.Length) || !FrameValidation.HasValidText(frame))
        {
            return SendStatus.Invalid; // Send.V1: invalid UTF-8 text is refused here, never written
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

        if (!FrameValidation.HasValidText(frame))
        {
            throw new ArgumentException(FrameValidation.InvalidUtf8Message(frame.Payload.Span), nameof(frame)); // Send.V1
        }

        _fence.ThrowIfNotStarted(options, nameof(options));
    }
}
