using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

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
/// I4 the writer's wait on an empty queue does not allocate: one reusable waiter, armed under the
///    gate, claimed by exactly one of the paths that add (TryEnqueue, EnqueuePong, Requeue,
///    admission of space waiters), Close (faults it) or the writer's registered cancellation
///    (test: I4_wait_and_wake_allocate_nothing, I4_one_waiter_is_reused_across_cycles).
/// I5 a tracked request has one completion and exactly one finisher: the writer (written), the
///    sender's cancellation (withdrawn while not taken, whether queued, waiting for room or not yet
///    queued), or whoever the queue hands it back to (Close, RemovePinnedUpTo). Admission from the
///    wait-for-room list completes nothing, so a cancellation right after it cannot strand the send
///    (test: Item5_send_cancelled_right_after_admission_from_the_wait_list_is_withdrawn).
/// I6 a sender's cancellation hook is attached before the request is handed to the queue, so every
///    finisher sees it and releases it (test: Item6_fast_path_send_leaves_no_registration_on_the_token).
/// </para>
/// </remarks>
internal sealed class SendQueue
{
    private readonly int _capacityFrames;
    private readonly long _capacityBytes;

    // Completed outside _gate by whoever claimed it under _gate (I4).
    private readonly SendReadWaiter _reader = new();

    // Guards every field below. Never held while completing a TaskCompletionSource or _reader.
    private readonly object _gate = new();
    private readonly Queue<Frame> _pongs = new();
    private readonly LinkedList<SendRequest> _control = new();
    private readonly LinkedList<SendRequest> _data = new();
    private readonly LinkedList<SendRequest> _spaceWaiters = new();
    private int _frames;
    private long _bytes;
    private bool _readerArmed;
    private CancellationToken _writerToken;
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

    public bool FitsAtAll(int bytes) => bytes <= _capacityBytes;

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
            if (_spaceWaiters.Count > 0 || !HasRoomLocked(request.Bytes))
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

        WakeReader(wake);
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
            wake = TryClaimReaderLocked();
            watch = _pongWatch;
            _pongWatch = null;
        }

        watch?.TrySetResult();
        WakeReader(wake);
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

        WakeReader(wake);
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
            _frames--;
            _bytes -= node.Value.Bytes;
            Debug.Assert(_frames >= 0 && _bytes >= 0, "Queue accounting went negative.");
            wake = AdmitWaitersLocked();
            request = node.Value;
        }

        WakeReader(wake);
        return true;
    }

    /// <summary>
    /// Makes <paramref name="writerToken"/> wake the writer's waits: registered once per session
    /// rather than once per wait, so waiting stays allocation-free (I4).
    /// </summary>
    /// <param name="writerToken">The writer's token; <see cref="WaitToReadAsync"/> then accepts it.</param>
    /// <returns>The registration; the writer disposes it when it stops.</returns>
    public CancellationTokenRegistration RegisterWriterCancellation(CancellationToken writerToken)
    {
        lock (_gate)
        {
            if (_readerArmed || _reader.IsOutstanding)
            {
                throw new InvalidOperationException("The send queue has a single writer: register its token before it waits.");
            }

            _writerToken = writerToken;
        }

        // Outside the gate: an already-cancelled token runs the callback here, which takes it.
        return writerToken.UnsafeRegister(static (state, token) => ((SendQueue)state!).CancelReader(token), this);
    }

    /// <summary>Waits until something is queued (the single writer then calls <see cref="TryDequeue"/>).</summary>
    /// <param name="cancellationToken">
    /// None, or the token given to <see cref="RegisterWriterCancellation"/> (another cancellable
    /// token could not wake the wait, so it is refused).
    /// </param>
    /// <returns>A completed task when something is queued; otherwise the reusable waiter's task.</returns>
    /// <exception cref="TransportException">The queue was closed (the returned task faults).</exception>
    /// <exception cref="OperationCanceledException">The writer's token was cancelled (the returned task is cancelled).</exception>
    /// <exception cref="InvalidOperationException">A previous wait was not consumed, or the token was not registered.</exception>
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

            if (cancellationToken.CanBeCanceled && cancellationToken != _writerToken)
            {
                throw new InvalidOperationException("Register the writer's token with RegisterWriterCancellation before waiting with it.");
            }

            if (_readerArmed || _reader.IsOutstanding)
            {
                throw new InvalidOperationException("The send queue has a single writer: await the previous WaitToReadAsync before calling it again.");
            }

            _readerArmed = true;
            return _reader.Arm();
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

        WakeReader(wake);
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
                    _frames--;
                    _bytes -= request.Bytes;
                    wake = AdmitWaitersLocked();
                    break;
                default:
                    return false;
            }
        }

        WakeReader(wake);
        return true;
    }

    /// <summary>Closes the queue: everything queued or waiting is returned for the caller to fail.</summary>
    public List<SendRequest> Close(Exception error)
    {
        List<SendRequest> drained = [];
        bool reader;
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
            reader = TryClaimReaderLocked();
            watch = _pongWatch;
            _pongWatch = null;
        }

        watch?.TrySetResult();

        if (reader)
        {
            _reader.SetException(error);
        }

        return drained;
    }

    private bool HasRoomLocked(int bytes) => _frames < _capacityFrames && _bytes + bytes <= _capacityBytes;

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

        _frames++;
        _bytes += request.Bytes;
        return TryClaimReaderLocked();
    }

    // Caller holds _gate. Claims the armed wait, if any, for the caller to complete after
    // releasing the gate (exactly one claimer per armed wait, I4).
    private bool TryClaimReaderLocked()
    {
        Debug.Assert(Monitor.IsEntered(_gate));
        var armed = _readerArmed;
        _readerArmed = false;
        return armed;
    }

    private void WakeReader(bool claimed)
    {
        if (claimed)
        {
            _reader.SetResult();
        }
    }

    // The writer's registered token was cancelled: fail its wait so the loop sees the cancellation.
    private void CancelReader(CancellationToken token)
    {
        lock (_gate)
        {
            // A registration from an earlier session may fire late: only the current writer's
            // token may cancel the current wait.
            if (token != _writerToken || !TryClaimReaderLocked())
            {
                return;
            }
        }

        _reader.SetException(new OperationCanceledException(token));
    }

    // Moves waiters for space into the queue while they fit, in arrival order (I3). The sender
    // is not told: it awaits the request's completion, so there is no hand-off to race with its
    // cancellation (I5). Returns true when an admission claimed the writer's wait.
    private bool AdmitWaitersLocked()
    {
        var wake = false;
        while (_spaceWaiters.First is { } first && HasRoomLocked(first.Value.Bytes))
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
                _frames--;
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
