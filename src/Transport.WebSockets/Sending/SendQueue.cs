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
    private readonly LinkedList<SpaceWaiter> _spaceWaiters = new();
    private int _frames;
    private long _bytes;
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

    public bool FitsAtAll(int bytes) => bytes <= _capacityBytes;

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
            if (_spaceWaiters.Count > 0 || !HasRoomLocked(request.Bytes))
            {
                return SendStatus.Full;
            }

            wake = AddLocked(request, atFront: false);
        }

        WakeConsumer(wake);
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
            wake = _consumer.TryClaim();
        }

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
            _frames--;
            _bytes -= node.Value.Bytes;
            Debug.Assert(_frames >= 0 && _bytes >= 0, "Queue accounting went negative.");
            admitted = AdmitWaitersLocked();
            request = node.Value;
        }

        Release(admitted);
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
                _frames--;
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
        bool consumer;
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
            consumer = _consumer.TryClaim();
        }

        // Senders still waiting for room learn at once that there will be none.
        foreach (var waiter in waiters)
        {
            waiter.Admitted.TrySetException(error);
        }

        if (consumer)
        {
            _consumer.Fail(error);
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

            if (_spaceWaiters.Count == 0 && HasRoomLocked(request.Bytes))
            {
                wake = AddLocked(request, atFront: false);
                waiter.Admitted.TrySetResult();
            }
            else
            {
                _spaceWaiters.AddLast(waiter);
            }
        }

        WakeConsumer(wake);
        await using var registration = cancellationToken.Register(() =>
        {
            if (TryWithdraw(request))
            {
                waiter.Admitted.TrySetCanceled(cancellationToken);
            }
        });
        await waiter.Admitted.Task;
    }

    private bool HasRoomLocked(int bytes) => _frames < _capacityFrames && _bytes + bytes <= _capacityBytes;

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

        _frames++;
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

    // Moves waiters for space into the queue while they fit, in arrival order (I3).
    private List<SpaceWaiter>? AdmitWaitersLocked()
    {
        List<SpaceWaiter>? admitted = null;
        while (_spaceWaiters.First is { } first && HasRoomLocked(first.Value.Request.Bytes))
        {
            _spaceWaiters.RemoveFirst();
            var wake = AddLocked(first.Value.Request, atFront: false);
            (admitted ??= []).Add(first.Value);
            first.Value.WakeConsumer = wake;
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
            WakeConsumer(waiter.WakeConsumer);
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
                _frames--;
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

        // True when this admission claimed the consumer's wait: Release completes it.
        public bool WakeConsumer { get; set; }
    }
}
