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
    private readonly LinkedList<SpaceWaiter> _spaceWaiters = new();
    private int _frames;
    private long _bytes;
    private bool _readerArmed;
    private CancellationToken _writerToken;
    private Exception? _closedError;

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

    /// <summary>True when a batch of <paramref name="frames"/> could ever be queued whole.</summary>
    public bool FitsAtAll(int frames, long bytes) => frames <= _capacityFrames && bytes <= _capacityBytes;

    /// <summary>Enqueues without waiting.</summary>
    public SendStatus TryEnqueue(SendRequest request)
    {
        bool wake;
        lock (_gate)
        {
            if (_closedError is not null)
            {
                return SendStatus.Closed;
            }

            // Waiters already queued for space go first (I3).
            if (_spaceWaiters.Count > 0 || !HasRoomLocked(request))
            {
                return SendStatus.Full;
            }

            wake = AddLocked(request, atFront: false);
        }

        WakeReader(wake);
        return SendStatus.Accepted;
    }

    /// <summary>Enqueues, waiting for room.</summary>
    public ValueTask EnqueueAsync(SendRequest request, CancellationToken cancellationToken)
    {
        var status = TryEnqueue(request);
        if (status == SendStatus.Accepted)
        {
            return ValueTask.CompletedTask;
        }

        if (status == SendStatus.Closed)
        {
            return ValueTask.FromException(ClosedError());
        }

        return WaitForRoomAsync(request, cancellationToken);
    }

    /// <summary>Queues a pong for a surfaced ping; pongs are not bounded (a ping flood is bounded by the receive side).</summary>
    public void EnqueuePong(Frame pong)
    {
        bool wake;
        lock (_gate)
        {
            if (_closedError is not null)
            {
                return;
            }

            _pongs.Enqueue(pong);
            wake = TryClaimReaderLocked();
        }

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
        List<SpaceWaiter>? admitted;
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
            admitted = AdmitWaitersLocked();
            request = node.Value;
        }

        Release(admitted);
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
        List<SpaceWaiter>? admitted;
        lock (_gate)
        {
            RemoveWhereLocked(_control, r => r.Options.PinnedEpoch <= endedEpoch, removed);
            RemoveWhereLocked(_data, r => r.Options.PinnedEpoch <= endedEpoch, removed);
            admitted = AdmitWaitersLocked();
        }

        Release(admitted);
        return removed;
    }

    /// <summary>Withdraws a request still queued (its sender cancelled). False when it was already taken.</summary>
    public bool TryWithdraw(SendRequest request)
    {
        List<SpaceWaiter>? admitted = null;
        bool removed;
        lock (_gate)
        {
            removed = _control.Remove(request) || _data.Remove(request);
            if (removed)
            {
                _frames -= request.FrameCount;
                _bytes -= request.Bytes;
                admitted = AdmitWaitersLocked();
            }
            else
            {
                // Maybe it is still waiting for room.
                for (var node = _spaceWaiters.First; node is not null; node = node.Next)
                {
                    if (ReferenceEquals(node.Value.Request, request))
                    {
                        _spaceWaiters.Remove(node);
                        removed = true;
                        break;
                    }
                }
            }
        }

        Release(admitted);
        return removed;
    }

    /// <summary>Closes the queue: everything queued or waiting is returned for the caller to fail.</summary>
    public List<SendRequest> Close(Exception error)
    {
        List<SendRequest> drained = [];
        List<SpaceWaiter> waiters;
        bool reader;
        lock (_gate)
        {
            if (_closedError is not null)
            {
                return drained;
            }

            _closedError = error;
            drained.AddRange(_control);
            drained.AddRange(_data);
            waiters = [.. _spaceWaiters];
            drained.AddRange(waiters.Select(w => w.Request));
            _control.Clear();
            _data.Clear();
            _spaceWaiters.Clear();
            _pongs.Clear();
            _frames = 0;
            _bytes = 0;
            reader = TryClaimReaderLocked();
        }

        // Senders still waiting for room learn at once that there will be none.
        foreach (var waiter in waiters)
        {
            waiter.Admitted.TrySetException(error);
        }

        if (reader)
        {
            _reader.SetException(error);
        }

        return drained;
    }

    private async ValueTask WaitForRoomAsync(SendRequest request, CancellationToken cancellationToken)
    {
        var waiter = new SpaceWaiter(request);
        var wake = false;
        lock (_gate)
        {
            if (_closedError is not null)
            {
                throw ClosedError();
            }

            if (_spaceWaiters.Count == 0 && HasRoomLocked(request))
            {
                wake = AddLocked(request, atFront: false);
                waiter.Admitted.TrySetResult();
            }
            else
            {
                _spaceWaiters.AddLast(waiter);
            }
        }

        WakeReader(wake);
        await using var registration = cancellationToken.Register(() =>
        {
            if (TryWithdraw(request))
            {
                waiter.Admitted.TrySetCanceled(cancellationToken);
            }
        });
        await waiter.Admitted.Task;
    }

    private bool HasRoomLocked(SendRequest request) => _frames + request.FrameCount <= _capacityFrames && _bytes + request.Bytes <= _capacityBytes;

    private bool AddLocked(SendRequest request, bool atFront)
    {
        var lane = request.Options.Lane == SendLane.Control ? _control : _data;
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

    // Moves waiters for space into the queue while they fit, in arrival order (I3).
    private List<SpaceWaiter>? AdmitWaitersLocked()
    {
        List<SpaceWaiter>? admitted = null;
        while (_spaceWaiters.First is { } first && HasRoomLocked(first.Value.Request))
        {
            _spaceWaiters.RemoveFirst();
            var wake = AddLocked(first.Value.Request, atFront: false);
            (admitted ??= []).Add(first.Value);
            first.Value.WakeReader = wake;
        }

        return admitted;
    }

    private void Release(List<SpaceWaiter>? admitted)
    {
        if (admitted is null)
        {
            return;
        }

        foreach (var waiter in admitted)
        {
            WakeReader(waiter.WakeReader);
            waiter.Admitted.TrySetResult();
        }
    }

    private void RemoveWhereLocked(LinkedList<SendRequest> lane, Func<SendRequest, bool> match, List<SendRequest> removed)
    {
        for (var node = lane.First; node is not null;)
        {
            var next = node.Next;
            if (match(node.Value))
            {
                lane.Remove(node);
                _frames -= node.Value.FrameCount;
                _bytes -= node.Value.Bytes;
                removed.Add(node.Value);
            }

            node = next;
        }
    }

    private Exception ClosedError() => _closedError ?? TransportException.Shutdown();

    private sealed class SpaceWaiter(SendRequest request)
    {
        public SendRequest Request { get; } = request;

        public TaskCompletionSource Admitted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        // True when this admission claimed the writer's wait: Release completes it.
        public bool WakeReader { get; set; }
    }
}
