using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Transport.WebSockets.Waiting;

namespace Transport.WebSockets.Sending;

/// <summary>
/// The sink's queue: protocol pongs, then the control lane, then the data lane, bounded together
/// by frame count and payload bytes. Many producers (adapter threads), one consumer (the actor's
/// writer).
/// </summary>
/// <remarks>
/// Hand-written rather than a <c>Channel&lt;T&gt;</c>: channels bound by count only, have no
/// priority between lanes, and cannot withdraw a queued item (needed for cancelled and
/// epoch-pinned sends).
/// <para>
/// I1 the consumer always takes pongs, then control, then data (test: S1_control_lane_before_data).
/// I2 queued frames never exceed the frame bound, and bytes exceed the byte bound only never (a
///    frame larger than the byte bound is refused as Invalid).
/// I3 waiters for space are served in arrival order.
/// I4 the consumer's wait on an empty queue does not allocate: one reusable
///    <see cref="SingleConsumerWaiter{T}"/>, armed under the gate, claimed under the gate by
///    exactly one of the paths that add (TryEnqueue, EnqueuePong, Requeue, admission of space
///    waiters) or Close (faults it), or by the cancellation of the token the consumer waited with
///    (test: I4_wait_and_wake_allocate_nothing, I4_one_waiter_is_reused_across_cycles).
/// I5 a tracked request has one completion and exactly one finisher: the writer (written), the
///    sender's cancellation (withdrawn while not taken, whether queued, waiting for room or not yet
///    queued), or whoever the queue hands it back to (Close, RemovePinnedUpTo). Admission from the
///    wait-for-room list completes nothing, so a cancellation right after it cannot strand the send
///    (test: Item5_send_cancelled_right_after_admission_from_the_wait_list_is_withdrawn).
/// I6 a sender's cancellation hook is attached before the request is handed to the queue, so every
///    finisher sees it and releases it (test: Item6_fast_path_send_leaves_no_registration_on_the_token).
/// </para>
/// <para>
/// Naming: the queue has many producers (the sink's senders) and one consumer, the actor's write
/// loop. On this type's side that loop is always "the consumer": it waits
/// (<see cref="WaitToReadAsync"/>) and takes (<see cref="TryDequeue"/>).
/// </para>
/// </remarks>
internal sealed class SendQueue
{
    private readonly int _capacityFrames;
    private readonly long _capacityBytes;

    // The consumer's one reusable wait: armed and claimed under _gate, completed outside it (I4).
    private readonly SingleConsumerWaiter<bool> _consumer = new("send queue");

    // Guards every field below. Never held while completing a TaskCompletionSource or _consumer.
    private readonly object _gate = new();
    private readonly Queue<Frame> _pongs = new();
    private readonly LinkedList<SendRequest> _control = new();
    private readonly LinkedList<SendRequest> _data = new();
    private readonly LinkedList<SendRequest> _spaceWaiters = new();
    private int _frames;
    private long _bytes;
    private Exception? _closedError;
    private TaskCompletionSource? _pongWatch;

    public SendQueue(int capacityFrames, long capacityBytes)
    {
        _capacityFrames = capacityFrames;
        _capacityBytes = capacityBytes;
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _frames;
            }
        }
    }

    public long Bytes
    {
        get
        {
            lock (_gate)
            {
                return _bytes;
            }
        }
    }

    public bool FitsAtAll(long bytes) => bytes <= _capacityBytes;

    /// <summary>True when a batch of <paramref name="frames"/> frames could ever be queued whole.</summary>
    public bool FitsAtAll(int frames, long bytes) => frames <= _capacityFrames && bytes <= _capacityBytes;

    /// <summary>Whether a pong is queued (the writer takes pongs first; the pacer may let an uncounted one skip the wait).</summary>
    public bool HasPong
    {
        get
        {
            lock (_gate)
            {
                return _pongs.Count > 0;
            }
        }
    }

    /// <summary>
    /// Completes when a pong is queued (at once if one is) or the queue closes. For the pacer's
    /// wait, which uncounted pongs must not sit behind; allocates only while such a wait is armed.
    /// </summary>
    public Task WhenPongQueued()
    {
        lock (_gate)
        {
            if (_pongs.Count > 0 || _closedError is not null)
            {
                return Task.CompletedTask;
            }

            // Synchronous continuations on purpose: its only awaiter is the pacer's Task.WhenAny, whose
            // completion then posts the writer back to the writer's own scheduler (ADR 0003).
            _pongWatch ??= new TaskCompletionSource();
            return _pongWatch.Task;
        }
    }

    /// <summary>Enqueues without waiting.</summary>
    public SendStatus TryEnqueue(SendRequest request) => Enqueue(request, waitForRoom: false) switch
    {
        EnqueueResult.Queued => SendStatus.Accepted,
        EnqueueResult.Closed => SendStatus.Closed,
        _ => SendStatus.Full,
    };

    /// <summary>
    /// Enqueues, or when there is no room joins the wait-for-room list (I3): the request then
    /// stays owned by the queue until it is admitted, withdrawn (<see cref="TryWithdraw"/>) or
    /// returned by <see cref="Close"/>. Nothing else completes for the sender: it awaits the
    /// request's own completion, whoever ends up finishing it (I5).
    /// </summary>
    /// <returns>
    /// Queued, Waiting, Closed (the caller fails the request with <see cref="ClosedError"/>) or
    /// Withdrawn (the sender's cancellation already ran and completed the request).
    /// </returns>
    public EnqueueResult EnqueueOrWait(SendRequest request) => Enqueue(request, waitForRoom: true);

    private EnqueueResult Enqueue(SendRequest request, bool waitForRoom)
    {
        bool wake;
        lock (_gate)
        {
            if (request.QueueState == SendRequestState.Withdrawn)
            {
                // Its cancellation ran before it got here (I6: the hook is attached before queueing).
                return EnqueueResult.Withdrawn;
            }

            if (_closedError is not null)
            {
                return EnqueueResult.Closed;
            }

            // Waiters already queued for space go first (I3).
            if (_spaceWaiters.Count > 0 || !HasRoomLocked(request))
            {
                if (!waitForRoom)
                {
                    return EnqueueResult.Full;
                }

                request.QueueState = SendRequestState.WaitingForRoom;
                _spaceWaiters.AddLast(request);
                return EnqueueResult.Waiting;
            }

            wake = AddLocked(request, atFront: false);
        }

        WakeConsumer(wake);
        return EnqueueResult.Queued;
    }

    /// <summary>Queues a pong for a surfaced ping; pongs are not bounded (a ping flood is bounded by the receive side).</summary>
    public void EnqueuePong(Frame pong)
    {
        bool wake;
        TaskCompletionSource? watch;
        lock (_gate)
        {
            if (_closedError is not null)
            {
                return;
            }

            _pongs.Enqueue(pong);
            wake = _consumer.TryClaim();
            watch = _pongWatch;
            _pongWatch = null;
        }

        watch?.TrySetResult();
        WakeConsumer(wake);
    }

    /// <summary>Puts a request whose write failed back at the head of its lane.</summary>
    public void Requeue(SendRequest request)
    {
        var wake = false;
        Exception? closed;
        lock (_gate)
        {
            closed = _closedError;
            if (closed is null)
            {
                // Over the bound for a moment is acceptable: the frame was already admitted once.
                wake = AddLocked(request, atFront: true);
            }
        }

        if (closed is not null)
        {
            request.Fail(closed);
        }

        WakeConsumer(wake);
    }

    /// <summary>Takes the highest-priority frame queued now: pongs, then control, then data.</summary>
    public bool TryDequeue([NotNullWhen(true)] out SendRequest? request)
    {
        bool wake;
        lock (_gate)
        {
            if (_pongs.TryDequeue(out var pong))
            {
                request = new SendRequest(pong, SendOptions.Urgent, tracked: false);
                return true;
            }

            var node = _control.First ?? _data.First;
            if (node is null)
            {
                request = null;
                return false;
            }

            node.List!.Remove(node);
            _frames -= node.Value.FrameCount;
            _bytes -= node.Value.Bytes;
            Debug.Assert(_frames >= 0 && _bytes >= 0, "Queue accounting went negative.");
            wake = AdmitWaitersLocked();
            request = node.Value;
        }

        WakeConsumer(wake);
        return true;
    }

    /// <summary>Waits until something is queued (the single consumer then calls <see cref="TryDequeue"/>).</summary>
    /// <param name="cancellationToken">Ends the wait with <see cref="OperationCanceledException"/>; the queue is unaffected.</param>
    /// <returns>A completed task when something is queued; otherwise the reusable waiter's task.</returns>
    /// <exception cref="TransportException">The queue was closed (the returned task faults).</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled (the returned task is cancelled).</exception>
    /// <exception cref="InvalidOperationException">A previous wait was not consumed.</exception>
    public ValueTask WaitToReadAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_closedError is not null)
            {
                return ValueTask.FromException(_closedError);
            }

            if (_pongs.Count > 0 || _frames > 0)
            {
                return ValueTask.CompletedTask;
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled(cancellationToken);
            }

            // Empty and open: arm under the gate, so an add either came before (and we returned
            // above) or comes after and claims this wait (I4).
            return _consumer.ArmUntyped(cancellationToken);
        }
    }

    /// <summary>Removes and returns every queued request pinned to an epoch at or before <paramref name="endedEpoch"/>.</summary>
    public List<SendRequest> RemovePinnedUpTo(long endedEpoch)
    {
        List<SendRequest> removed = [];
        bool wake;
        lock (_gate)
        {
            RemoveWhereLocked(_control, r => r.Options.PinnedEpoch <= endedEpoch, removed);
            RemoveWhereLocked(_data, r => r.Options.PinnedEpoch <= endedEpoch, removed);
            wake = AdmitWaitersLocked();
        }

        WakeConsumer(wake);
        return removed;
    }

    /// <summary>
    /// Withdraws a request the writer has not taken (its sender cancelled): still queued, still
    /// waiting for room, or not yet handed to the queue (then <see cref="EnqueueOrWait"/> will
    /// refuse it). False when the writer already took it or the queue already gave it back.
    /// </summary>
    public bool TryWithdraw(SendRequest request)
    {
        var wake = false;
        lock (_gate)
        {
            switch (request.QueueState)
            {
                case SendRequestState.New:
                    request.QueueState = SendRequestState.Withdrawn;
                    return true;
                case SendRequestState.WaitingForRoom:
                    _spaceWaiters.Remove(request);
                    request.QueueState = SendRequestState.Withdrawn;
                    return true;
                case SendRequestState.Queued:
                    if (!(_control.Remove(request) || _data.Remove(request)))
                    {
                        return false; // taken by the writer: too late to withdraw
                    }

                    request.QueueState = SendRequestState.Withdrawn;
                    _frames -= request.FrameCount;
                    _bytes -= request.Bytes;
                    wake = AdmitWaitersLocked();
                    break;
                default:
                    return false;
            }
        }

        WakeConsumer(wake);
        return true;
    }

    /// <summary>Closes the queue: everything queued or waiting is returned for the caller to fail.</summary>
    public List<SendRequest> Close(Exception error)
    {
        List<SendRequest> drained = [];
        bool consumer;
        TaskCompletionSource? watch;
        lock (_gate)
        {
            if (_closedError is not null)
            {
                return drained;
            }

            _closedError = error;
            drained.AddRange(_control);
            drained.AddRange(_data);
            drained.AddRange(_spaceWaiters);
            foreach (var request in drained)
            {
                // Given back to the caller, who fails it: no later withdrawal may touch it.
                request.QueueState = SendRequestState.Closed;
            }

            _control.Clear();
            _data.Clear();
            _spaceWaiters.Clear();
            _pongs.Clear();
            _frames = 0;
            _bytes = 0;
            consumer = _consumer.TryClaim();
            watch = _pongWatch;
            _pongWatch = null;
        }

        watch?.TrySetResult();

        if (consumer)
        {
            _consumer.Fail(error);
        }

        return drained;
    }

    // A batch takes one slot per frame (Batch.B2: it is admitted whole or not at all).
    private bool HasRoomLocked(SendRequest request) => _frames + request.FrameCount <= _capacityFrames && _bytes + request.Bytes <= _capacityBytes;

    private bool AddLocked(SendRequest request, bool atFront)
    {
        var lane = request.Options.Lane == SendLane.Control ? _control : _data;
        request.QueueState = SendRequestState.Queued;
        if (atFront)
        {
            lane.AddFirst(request);
        }
        else
        {
            lane.AddLast(request);
        }

        _frames += request.FrameCount;
        _bytes += request.Bytes;
        return _consumer.TryClaim();
    }

    // Completes the consumer's wait claimed under _gate (I4); call after releasing _gate.
    private void WakeConsumer(bool claimed)
    {
        if (claimed)
        {
            _consumer.Complete(true);
        }
    }

    // Moves waiters for space into the queue while they fit, in arrival order (I3). The sender
    // is not told: it awaits the request's completion, so there is no hand-off to race with its
    // cancellation (I5). Returns true when an admission claimed the consumer's wait.
    private bool AdmitWaitersLocked()
    {
        var wake = false;
        while (_spaceWaiters.First is { } first && HasRoomLocked(first.Value))
        {
            _spaceWaiters.RemoveFirst();
            wake |= AddLocked(first.Value, atFront: false);
        }

        return wake;
    }

    private void RemoveWhereLocked(LinkedList<SendRequest> lane, Func<SendRequest, bool> match, List<SendRequest> removed)
    {
        for (var node = lane.First; node is not null;)
        {
            var next = node.Next;
            if (match(node.Value))
            {
                lane.Remove(node);
                node.Value.QueueState = SendRequestState.Closed;
                _frames -= node.Value.FrameCount;
                _bytes -= node.Value.Bytes;
                removed.Add(node.Value);
            }

            node = next;
        }
    }

    /// <summary>Why the queue is closed (Shutdown when it is not).</summary>
    public Exception ClosedError() => Volatile.Read(ref _closedError) ?? TransportException.Shutdown();
}

/// <summary>What <see cref="SendQueue.EnqueueOrWait"/> did with a request.</summary>
internal enum EnqueueResult
{
    /// <summary>In its lane.</summary>
    Queued,

    /// <summary>In the wait-for-room list.</summary>
    Waiting,

    /// <summary>No room and the caller would not wait.</summary>
    Full,

    /// <summary>The queue is closed; the request is the caller's to fail.</summary>
    Closed,

    /// <summary>The sender cancelled before the request was queued; it is already completed.</summary>
    Withdrawn,
}
