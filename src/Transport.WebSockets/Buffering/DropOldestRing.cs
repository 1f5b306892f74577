using System.Diagnostics;

namespace Transport.WebSockets.Buffering;

// Invariants (each proven by the named test in tests/Transport.Tests/Buffering/):
//
// I1: Count <= capacityFrames after every operation.
//     DropOldestRingTests.I1_count_pressure_evicts_oldest_first_and_counts_each_eviction
// I2: Bytes <= capacityBytes, unless the ring holds exactly one frame (the newest, larger than
//     the whole budget): Bytes > capacityBytes implies Count == 1. Hence
//     PeakBytes <= max(capacityBytes, largest frame) <= capacityBytes + largest frame.
//     DropOldestRingTests.I2_byte_pressure_evicts_oldest_until_the_newest_fits
//     DropOldestRingTests.I2_frame_larger_than_the_budget_is_admitted_alone
// I3: Order: frames come out in the order they were written, minus evicted ones; eviction
//     always takes the oldest; the newest frame written before Complete is always admitted.
//     DropOldestRingTests.I3_reads_return_frames_in_write_order
// I4: Conservation: TotalWritten == TotalRead + TotalLagged + Count at every quiescent point,
//     and the sum of Write's return values equals TotalLagged.
//     DropOldestRingModelTests.I4_random_operations_match_the_reference_model (also I1-I3, I6)
//     DropOldestRingConcurrencyTests.I4_conservation_holds_with_producer_and_consumer_on_two_threads
// I5: Only data frames (Text, Binary) enter; a control frame here is a caller bug and throws.
//     DropOldestRingTests.I5_control_frames_are_rejected
// I6: After Complete, Write is ignored (returns 0, no counter moves), buffered frames stay
//     readable, then WaitToReadAsync answers false (or throws the completion error). The first
//     Complete wins.
//     DropOldestRingTests.I6_write_after_complete_is_ignored_and_buffered_frames_stay_readable
//     DropOldestRingWaitTests.I6_wait_throws_the_completion_error_only_after_draining
// I7: A pending WaitToReadAsync is completed by the first Write or Complete after it; once it
//     answered true, TryRead succeeds (eviction never empties the ring: the newest stays).
//     DropOldestRingWaitTests.I7_pending_wait_is_woken_by_write
//     DropOldestRingWaitTests.I7_pending_wait_is_woken_by_complete
//     DropOldestRingConcurrencyTests.I7_cancellation_racing_writes_never_loses_a_wake_up
// I8: Waking never runs the consumer's continuation under the lock or inline on the producer's
//     thread; it runs on the scheduler the consumer captured, when it captured one.
//     DropOldestRingWaitTests.I8_continuation_runs_on_the_consumers_pumped_scheduler
//     DropOldestRingWaitTests.I8_continuation_without_context_does_not_run_inline_in_write
// I9: Write and TryRead allocate nothing in steady state (after the slot array has grown).
//     DropOldestRingAllocationTests.I9_steady_state_write_and_read_allocate_nothing
//     DropOldestRingAllocationTests.I9_waiting_and_waking_allocate_nothing

/// <summary>
/// The receive ring between the actor (single producer) and the adapter reading the source
/// (single consumer): bounded by frame count and by payload bytes, dropping the oldest data
/// frame on overflow and counting every drop in <see cref="TotalLagged"/>.
/// </summary>
/// <remarks>
/// <para>
/// Why drop-oldest: the socket must always be drained (a stalled consumer must not stop pongs or
/// let the server's send buffer fill), so pressure is absorbed here, never by not reading. The
/// newest data is the most useful to a trading consumer, and the lag counter tells the adapter
/// to reconcile.
/// </para>
/// <para>
/// Concurrency: one small lock guards all state. The producer path takes it once per write and
/// does no allocation; the consumer's wake-up is claimed under the lock and signalled after it
/// is released, so no foreign code ever runs while the lock is held.
/// </para>
/// <para>
/// Memory: the slot array starts small and doubles up to the frame bound, and never shrinks;
/// at the default bound (100,000 frames) its worst case is about 4 MB of frame structs, paid
/// only if the ring was ever that deep.
/// </para>
/// </remarks>
internal sealed class DropOldestRing
{
    private const int InitialSlots = 64;

    private readonly Lock _lock = new();
    private readonly RingReadWaiter _waiter = new();

    // Guarded by _lock: the circular buffer. Slots outside [_head, _head + _count) hold default
    // so an evicted or read frame's payload is not kept alive by the ring.
    private Frame[] _slots;
    private int _head;
    private int _count;
    private long _bytes;

    // Guarded by _lock: the statistics (cumulative, never reset).
    private long _peakBytes;
    private long _totalWritten;
    private long _totalRead;
    private long _totalLagged;

    // Guarded by _lock: completion. Set once; the first Complete wins.
    private bool _completed;
    private Exception? _completionError;

    // Guarded by _lock: the pending wait. Armed only while the ring is empty and not completed;
    // whoever clears _waiterArmed (Write, Complete, or the cancellation callback) owns the
    // completion of that wait, and performs it after leaving the lock.
    private bool _waiterArmed;
    private CancellationToken _waiterToken;
    private CancellationTokenRegistration _waiterRegistration;

    /// <summary>Creates an empty ring.</summary>
    /// <param name="capacityFrames">The frame bound (at least 1).</param>
    /// <param name="capacityBytes">The payload byte bound (at least 1). The newest frame is admitted even beyond it.</param>
    public DropOldestRing(int capacityFrames, long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityFrames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1L);
        CapacityFrames = capacityFrames;
        CapacityBytes = capacityBytes;
        _slots = new Frame[Math.Min(capacityFrames, InitialSlots)];
    }

    /// <summary>The frame bound.</summary>
    public int CapacityFrames { get; }

    /// <summary>The payload byte bound.</summary>
    public long CapacityBytes { get; }

    /// <summary>Frames buffered now.</summary>
    public int Count
    {
        get { lock (_lock) { return _count; } }
    }

    /// <summary>Payload bytes buffered now.</summary>
    public long Bytes
    {
        get { lock (_lock) { return _bytes; } }
    }

    /// <summary>The most payload bytes ever buffered at once (at most <see cref="CapacityBytes"/> plus one frame).</summary>
    public long PeakBytes
    {
        get { lock (_lock) { return _peakBytes; } }
    }

    /// <summary>Cumulative frames evicted unread. What the lifecycle snapshot publishes.</summary>
    public long TotalLagged
    {
        get { lock (_lock) { return _totalLagged; } }
    }

    /// <summary>Cumulative frames admitted (writes after <see cref="Complete"/> are not counted).</summary>
    public long TotalWritten
    {
        get { lock (_lock) { return _totalWritten; } }
    }

    /// <summary>Cumulative frames taken by the consumer.</summary>
    public long TotalRead
    {
        get { lock (_lock) { return _totalRead; } }
    }

    /// <summary>True once <see cref="Complete"/> was called (frames may still be buffered).</summary>
    public bool IsCompleted
    {
        get { lock (_lock) { return _completed; } }
    }

    /// <summary>
    /// Admits a data frame, evicting the oldest frames first if either bound would be exceeded.
    /// Never waits and never fails on pressure. Producer only.
    /// </summary>
    /// <param name="frame">A Text or Binary frame.</param>
    /// <returns>The number of frames this write evicted (0 when it fit, or when the ring is completed).</returns>
    /// <exception cref="ArgumentException">The frame is a control frame: the stack must consume those before the ring.</exception>
    public int Write(Frame frame)
    {
        if (!frame.IsData)
        {
            // A bug in the caller, not pressure: ping/pong/close must never reach the adapter.
            throw new ArgumentException($"The receive ring holds data frames only; got {frame}.", nameof(frame));
        }

        int evicted = 0;
        bool wake;
        CancellationTokenRegistration registration;
        lock (_lock)
        {
            if (_completed)
            {
                // Late frames from a dying socket (its receive loop racing the shutdown or the
                // terminal failure) are expected. The consumer was already told the stream ends
                // after what is buffered, so these are neither delivered nor counted as lagged:
                // there is nobody left to reconcile, and throwing would break the actor's teardown.
                return 0;
            }

            int length = frame.Length;
            while (_count > 0 && (_count >= CapacityFrames || _bytes + length > CapacityBytes))
            {
                RemoveOldest();
                evicted++;
            }

            if (_count == _slots.Length)
            {
                Grow();
            }

            int tail = _head + _count;
            if (tail >= _slots.Length)
            {
                tail -= _slots.Length;
            }

            _slots[tail] = frame;
            _count++;
            _bytes += length;
            if (_bytes > _peakBytes)
            {
                _peakBytes = _bytes;
            }

            _totalWritten++;
            _totalLagged += evicted;
            Debug.Assert(_count <= CapacityFrames, "I1");
            Debug.Assert(_bytes <= CapacityBytes || _count == 1, "I2");
            wake = TryClaimWaiter(out registration);
        }

        if (wake)
        {
            // Outside the lock (I8). Unregister does not block: a cancellation callback already
            // running will find the waiter claimed and do nothing.
            registration.Unregister();
            _waiter.SetResult(true);
        }

        return evicted;
    }

    /// <summary>Takes the oldest buffered frame without waiting. Consumer only.</summary>
    /// <param name="frame">The frame, when one was buffered.</param>
    /// <returns>True when a frame was taken.</returns>
    public bool TryRead(out Frame frame)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                frame = default;
                return false;
            }

            frame = _slots[_head];
            RemoveOldest();
            _totalRead++;
            return true;
        }
    }

    /// <summary>
    /// Waits until a frame is buffered or the ring has ended. Consumer only; one wait at a time.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait (the ring is unaffected).</param>
    /// <returns>True when a frame can be read; false when the ring was completed without error and is drained.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled before a frame arrived.</exception>
    /// <exception cref="InvalidOperationException">A previous wait has not been consumed yet.</exception>
    /// <remarks>Once drained after <c>Complete(error)</c>, the returned task faults with that error.</remarks>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default)
    {
        ValueTask<bool> pending;
        lock (_lock)
        {
            if (_count > 0)
            {
                return new ValueTask<bool>(true);
            }

            if (_completed)
            {
                return _completionError is null
                    ? new ValueTask<bool>(false)
                    : ValueTask.FromException<bool>(_completionError);
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<bool>(cancellationToken);
            }

            if (_waiterArmed || _waiter.IsOutstanding)
            {
                throw new InvalidOperationException("The receive ring has a single consumer: await the previous WaitToReadAsync before calling it again.");
            }

            _waiterArmed = true;
            _waiterToken = cancellationToken;
            pending = _waiter.Arm();
        }

        if (cancellationToken.CanBeCanceled)
        {
            // Registered outside the lock: if the token is cancelled meanwhile, the callback runs
            // synchronously here and takes the lock itself.
            CancellationTokenRegistration registration = cancellationToken.UnsafeRegister(
                static (state, token) => ((DropOldestRing)state!).CancelWaiter(token), this);
            bool stillArmed;
            lock (_lock)
            {
                // A Write or Complete may have claimed the waiter between the two lock sections;
                // then nobody else will unregister, so this thread does.
                stillArmed = _waiterArmed;
                if (stillArmed)
                {
                    _waiterRegistration = registration;
                }
            }

            if (!stillArmed)
            {
                registration.Unregister();
            }
        }

        return pending;
    }

    /// <summary>
    /// Ends the ring: later writes are ignored, buffered frames stay readable, and once drained
    /// waits answer false (or throw <paramref name="error"/>). Only the first call has an effect.
    /// </summary>
    /// <param name="error">The terminal error the consumer sees after draining, or null for a normal end.</param>
    public void Complete(Exception? error = null)
    {
        bool wake;
        CancellationTokenRegistration registration;
        lock (_lock)
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            _completionError = error;
            wake = TryClaimWaiter(out registration);
        }

        if (wake)
        {
            registration.Unregister();
            if (error is null)
            {
                _waiter.SetResult(false);
            }
            else
            {
                _waiter.SetException(error);
            }
        }
    }

    private void CancelWaiter(CancellationToken token)
    {
        lock (_lock)
        {
            // The wait may already have been claimed by a Write or Complete (and a new one armed
            // with another token): only the wait registered with this token is ours to cancel.
            if (!_waiterArmed || _waiterToken != token)
            {
                return;
            }

            _waiterArmed = false;
            _waiterToken = default;
            _waiterRegistration = default; // this callback is that registration: nothing to unregister
        }

        _waiter.SetException(new OperationCanceledException(token));
    }

    // Caller holds _lock. Claims the armed waiter, if any, for the caller to complete after
    // releasing the lock.
    private bool TryClaimWaiter(out CancellationTokenRegistration registration)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        if (!_waiterArmed)
        {
            registration = default;
            return false;
        }

        _waiterArmed = false;
        registration = _waiterRegistration;
        _waiterRegistration = default;
        _waiterToken = default;
        return true;
    }

    // Caller holds _lock and _count > 0.
    private void RemoveOldest()
    {
        ref Frame slot = ref _slots[_head];
        _bytes -= slot.Length;
        slot = default;
        _head = _head + 1 == _slots.Length ? 0 : _head + 1;
        _count--;
    }

    // Caller holds _lock and the array is full but below the frame bound (I1 bounds the growth).
    private void Grow()
    {
        Debug.Assert(_slots.Length < CapacityFrames);
        var larger = new Frame[(int)Math.Min((long)_slots.Length * 2, CapacityFrames)];
        int firstPart = Math.Min(_count, _slots.Length - _head);
        Array.Copy(_slots, _head, larger, 0, firstPart);
        Array.Copy(_slots, 0, larger, firstPart, _count - firstPart);
        _slots = larger;
        _head = 0;
    }
}
