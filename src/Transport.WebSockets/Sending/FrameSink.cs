using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.Sending;

/// <summary>
/// The adapter-facing send side: validates, checks epoch pinning, and queues into the
/// <see cref="SendQueue"/> the actor's writer drains. Stable for the connection's whole life.
/// </summary>
internal sealed class FrameSink : IFrameSink
{
    private readonly SendQueue _queue;
    private readonly IEpochClock _epochs;
    private readonly ILogger _logger;
    private long _failedAfterAccept;

    public FrameSink(SendQueue queue, IEpochClock epochs, ILogger logger)
    {
        _queue = queue;
        _epochs = epochs;
        _logger = logger;
    }

    public int QueuedFrames => _queue.Count;

    public long QueuedBytes => _queue.Bytes;

    public long FailedAfterAccept => Interlocked.Read(ref _failedAfterAccept);

    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) =>
        SendAsync(frame, SendOptions.Default, cancellationToken);

    public ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default)
    {
        Validate(frame, options);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        if (options.PinnedEpoch is { } pinned && pinned <= _epochs.LastEndedEpoch)
        {
            return ValueTask.FromException(TransportException.StaleEpoch(pinned));
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

        if (options.PinnedEpoch is { } pinned)
        {
            if (pinned > _epochs.CurrentEpoch)
            {
                return SendStatus.Invalid;
            }

            if (pinned <= _epochs.LastEndedEpoch)
            {
                return SendStatus.StaleEpoch;
            }
        }

        return _queue.TryEnqueue(new SendRequest(frame, options, tracked: false));
    }

    /// <summary>Fails a request the writer or the actor gave up on; counts it when nobody awaits it.</summary>
    public void FailRequest(SendRequest request, Exception error)
    {
        if (!request.Fail(error))
        {
            Interlocked.Increment(ref _failedAfterAccept);
            _logger.LogWarning("A frame accepted by TrySend was not sent: {Reason} ({Frame}).", (error as TransportException)?.Kind.ToString() ?? error.GetType().Name, request.Frame);
        }
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

        if (options.PinnedEpoch is { } pinned && pinned > _epochs.CurrentEpoch)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"The send is pinned to epoch {pinned}, which has not started (current epoch {_epochs.CurrentEpoch}).");
        }
    }
}

/// <summary>What the sink needs to know about epochs, owned by the actor.</summary>
internal interface IEpochClock
{
    /// <summary>The current (or, while down, the last) epoch.</summary>
    long CurrentEpoch { get; }

    /// <summary>The newest epoch whose connection has ended; -1 before any ended.</summary>
    long LastEndedEpoch { get; }
}
