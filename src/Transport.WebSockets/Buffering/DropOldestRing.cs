using System.Diagnostics;
using Transport.WebSockets.Waiting;

namespace Transport.WebSockets.Buffering;

// Invariants (each proven by the named test in tests/Transport.Tests/Buffering/):
//
// Ring.I1: Count <= capacityFrames after every operation.
//     DropOldestRingTests.I1_count_pressure_evicts_oldest_first_and_counts_each_eviction
// Ring.I2: Bytes <= capacityBytes, unless the ring holds exactly one frame (the newest, larger than
//     the whole budget): Bytes > capacityBytes implies Count == 1. Hence
//     PeakBytes <= max(capacityBytes, largest frame) <= capacityBytes + largest frame.
//     DropOldestRingTests.I2_byte_pressure_evicts_oldest_until_the_newest_fits
//     DropOldestRingTests.I2_frame_larger_than_the_budget_is_admitted_alone
// Ring.I3: Order: frames come out in the order they were written, minus evicted ones; eviction
//     always takes the oldest; the newest frame written before Complete is always admitted.
//     DropOldestRingTests.I3_reads_return_frames_in_write_order
// Ring.I4: Conservation: TotalWritten == TotalRead + TotalLagged + Count at every quiescent point,
//     and the sum of Write's return values equals TotalLagged.
//     DropOldestRingModelTests.I4_random_operations_match_the_reference_model (also Ring.I1-Ring.I3, Ring.I6)
//     DropOldestRingConcurrencyTests.I4_conservation_holds_with_producer_and_consumer_on_two_threads
// Ring.I5: Only data frames (Text, Binary) enter; a control frame here is a caller bug and throws.
//     DropOldestRingTests.I5_control_frames_are_rejected
// Ring.I6: After Complete, Write is ignored (returns 0, no counter moves), buffered frames stay
//     readable, then WaitToReadAsync answers false (or throws the completion error). The first
//     Complete wins.
//     DropOldestRingTests.I6_write_after_complete_is_ignored_and_buffered_frames_stay_readable
//     DropOldestRingWaitTests.I6_wait_throws_the_completion_error_only_after_draining
// Ring.I7: A pending WaitToReadAsync is completed by the first Write or Complete after it; once it
//     answered true, TryRead succeeds (eviction never empties the ring: the newest stays).
//     DropOldestRingWaitTests.I7_pending_wait_is_woken_by_write
//     DropOldestRingWaitTests.I7_pending_wait_is_woken_by_complete
//     DropOldestRingConcurrencyTests.I7_cancellation_racing_writes_never_loses_a_wake_up
// Ring.I8: Waking never runs the consumer's continuation under the lock or inline on the producer's
//     thread; it runs on the scheduler the consumer captured, when it captured one.
//     DropOldestRingWaitTests.I8_continuation_runs_on_the_consumers_pumped_scheduler
//     DropOldestRingWaitTests.I8_continuation_without_context_does_not_run_inline_in_write
// Ring.I9: Write and TryRead allocate nothing in steady state (after the slot array has grown).
//     DropOldestRingAllocationTests.I9_steady_state_write_and_read_allocate_nothing
//     DropOldestRingAllocationTests.I9_waiting_and_waking_allocate_nothing
//     DropOldestRingBatchTests.I9_batch_write_and_read_allocate_nothing
// Ring.I10: A batch is its frames one by one: WriteBatch(f1..fn) leaves the ring, its counters and its
//      return value exactly as Write(f1)..Write(fn) would, and TryReadBatch(n) as n TryReads
//      (stopping early only at the byte budget, never before the first frame); each takes the
//      lock once and wakes the consumer at most once.
//     DropOldestRingModelTests.I4_random_operations_match_the_reference_model (batches included)
//     DropOldestRingBatchTests.I10_batch_write_equals_frame_by_frame_writes
//     DropOldestRingBatchTests.I10_one_batch_wakes_the_consumer_once
// Ring.I11: A batch with a control frame anywhere is rejected whole: nothing is admitted (Ring.I5).
//     DropOldestRingBatchTests.I11_batch_with_a_control_frame_is_rejected_whole
// Ring.I12: Lease mode: every leased frame the ring drops (evicted, or written after Complete) is
//      released by the ring exactly once and counted in LeasesReleased; frames read are the
//      consumer's to release (ADR 0013: a write hands the frame's hold to the ring, a read hands it on).
//     LeaseTests.I12_the_ring_releases_the_leased_frames_it_evicts_or_drops
//     DropOldestRingBatchTests.I11_batch_with_a_control_frame_is_rejected_whole
// Ring.I13: A tagged ring (the pool's merged source) returns each frame with the tag it was written
//      with, through evictions and growth; several producers may write (every write is one lock section).
//     DropOldestRingTests.I13_a_tagged_ring_keeps_each_frames_tag_through_eviction_and_growth

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
/// Concurrency: one small lock guards all state. The producer takes it once per write or per
/// batch (<see cref="WriteBatch"/>) and does no allocation; the consumer takes it once per read
/// or per batch (<see cref="TryReadBatch"/>). The consumer's wake-up follows the protocol of
/// <see cref="SingleConsumerWaiter{T}"/>: armed and claimed under the lock, completed after it
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
    // Small: an idle connection's ring costs 8 slots (384 B of frame structs), not 64 (3 KiB); the array
    // doubles on demand (docs/adr/0021-cost-at-scale.md).
    private const int InitialSlots = 8;

    private readonly Lock _lock = new();

    // The consumer's one reusable wait: armed under _lock when the ring is empty, claimed under
    // _lock by Write/WriteBatch/Complete, completed after the lock is released (Ring.I8).
    private readonly SingleConsumerWaiter<bool> _waiter = new("receive ring");

    // Guarded by _lock: the circular buffer. Slots outside [_head, _head + _count) hold default
    // so an evicted or read frame's payload is not kept alive by the ring. A tagged ring keeps each
    // slot's tag at the same index of _tags (Ring.I13); null otherwise.
    private Frame[] _slots;
    private int[]? _tags;
    private int _head;
    private int _count;
    private long _bytes;

    // Guarded by _lock: the statistics (cumulative, never reset).
    private long _peakBytes;
    private long _totalWritten;
    private long _totalRead;
    private long _totalLagged;
    private long _leasesReleased;

    // Guarded by _lock: completion. Set once; the first Complete wins.
    private bool _completed;
    private Exception? _completionError;

    /// <summary>Creates an empty ring.</summary>
    /// <param name="capacityFrames">The frame bound (at least 1).</param>
    /// <param name="capacityBytes">The payload byte bound (at least 1). The newest frame is admitted even beyond it.</param>
    /// <param name="tagged">Keep an int tag with each frame (<see cref="Write(Frame, int)"/>, <see cref="TryRead(out Frame, out int)"/>; Ring.I13).</param>
    public DropOldestRing(int capacityFrames, long capacityBytes, bool tagged = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityFrames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1L);
        CapacityFrames = capacityFrames;
        CapacityBytes = capacityBytes;
        _slots = new Frame[Math.Min(capacityFrames, InitialSlots)];
        _tags = tagged ? new int[_slots.Length] : null;
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

    /// <summary>Cumulative leased frames the ring released itself (evicted, or dropped after completion; Ring.I12).</summary>
    public long LeasesReleased
    {
        get { lock (_lock) { return _leasesReleased; } }
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
    public int Write(Frame frame) => Write(frame, tag: 0);

    /// <summary>
    /// <see cref="Write(Frame)"/> with a tag that a tagged ring returns with the frame (Ring.I13). Every
    /// write is one lock section, so several producers may call it (the pool's merged source).
    /// </summary>
    /// <param name="frame">A Text or Binary frame.</param>
    /// <param name="tag">The tag (ignored by an untagged ring).</param>
    /// <returns>The number of frames this write evicted (0 when it fit, or when the ring is completed).</returns>
    /// <exception cref="ArgumentException">The frame is a control frame.</exception>
    public int Write(Frame frame, int tag)
    {
        if (!frame.IsData)
        {
            // A bug in the caller, not pressure: ping/pong/close must never reach the adapter.
            throw new ArgumentException($"The receive ring holds data frames only; got {frame}.", nameof(frame));
        }

        int evicted;
        bool wake;
        lock (_lock)
        {
            if (_completed)
            {
                // Late frames from a dying socket (its receive loop racing the shutdown or the
                // terminal failure) are expected. The consumer was already told the stream ends
                // after what is buffered, so these are neither delivered nor counted as lagged:
                // there is nobody left to reconcile, and throwing would break the actor's teardown.
                // A leased one goes back to its pool (Ring.I12).
                ReleaseDroppedLocked(frame);
                return 0;
            }

            evicted = AdmitLocked(frame, tag);
            wake = _waiter.TryClaim();
        }

        if (wake)
        {
            // Outside the lock (Ring.I8).
            _waiter.Complete(true);
        }

        return evicted;
    }

    /// <summary>
    /// Admits a batch of data frames in order under one lock, waking the consumer at most once:
    /// the same outcome as writing them one by one (Ring.I10). Producer only.
    /// </summary>
    /// <param name="frames">Text or Binary frames, oldest first.</param>
    /// <returns>The number of frames the batch evicted, its own earlier frames included when the batch alone overflows a bound.</returns>
    /// <exception cref="ArgumentException">A frame of the batch is a control frame; nothing was admitted (Ring.I11).</exception>
    public int WriteBatch(ReadOnlySpan<Frame> frames)
    {
        foreach (ref readonly Frame frame in frames)
        {
            if (!frame.IsData)
            {
                throw new ArgumentException($"The receive ring holds data frames only; the batch has {frame}.", nameof(frames));
            }
        }

        if (frames.IsEmpty)
        {
            return 0;
        }

        int evicted = 0;
        bool wake;
        lock (_lock)
        {
            if (_completed)
            {
                // As in Write: late frames of a dying socket; leased ones go back to their pool.
                foreach (ref readonly Frame frame in frames)
                {
                    ReleaseDroppedLocked(frame);
                }

                return 0;
            }

            foreach (ref readonly Frame frame in frames)
            {
                evicted += AdmitLocked(frame, tag: 0);
            }

            wake = _waiter.TryClaim();
        }

        if (wake)
        {
            _waiter.Complete(true);
        }

        return evicted;
    }

    /// <summary>
    /// Counts data frames dropped on their way to the ring (the up-edge hold's overflow, or the frames of
    /// a socket that never went up; Hold.H2) as admitted and evicted at once: the consumer learns of them
    /// through <see cref="TotalLagged"/> like any eviction, and conservation (Ring.I4) holds. Ignored after
    /// <see cref="Complete"/>, as writes are. Producer only.
    /// </summary>
    /// <param name="frames">How many frames were dropped (at least 0).</param>
    public void CountDroppedBeforeAdmission(int frames)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(frames);
        lock (_lock)
        {
            if (_completed)
            {
                return;
            }

            _totalWritten += frames;
            _totalLagged += frames;
        }
    }

    /// <summary>Takes the oldest buffered frame without waiting. Consumer only.</summary>
    /// <param name="frame">The frame, when one was buffered.</param>
    /// <returns>True when a frame was taken.</returns>
    public bool TryRead(out Frame frame) => TryRead(out frame, out _);

    /// <summary>Takes the oldest buffered frame and its tag (Ring.I13) without waiting. Consumer only.</summary>
    /// <param name="frame">The frame, when one was buffered.</param>
    /// <param name="tag">Its tag (0 for an untagged ring).</param>
    /// <returns>True when a frame was taken.</returns>
    public bool TryRead(out Frame frame, out int tag)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                frame = default;
                tag = 0;
                return false;
            }

            frame = _slots[_head];
            tag = _tags is null ? 0 : _tags[_head];
            RemoveOldest();
            _totalRead++;
            return true;
        }
    }

    /// <summary>
    /// Takes up to <paramref name="destination"/>.Length of the oldest buffered frames under one
    /// lock, the same frames in the same order as that many <see cref="TryRead(out Frame)"/> calls (Ring.I10).
    /// Consumer only.
    /// </summary>
    /// <param name="destination">Where the frames go, oldest first.</param>
    /// <param name="maxBytes">
    /// Stop before a frame that would take the batch's payload past this many bytes; the first
    /// frame is always taken, whatever its size.
    /// </param>
    /// <returns>The number of frames taken (0 when the ring is empty or the destination is).</returns>
    public int TryReadBatch(Span<Frame> destination, long maxBytes = long.MaxValue)
    {
        Debug.Assert(_tags is null, "a tagged ring is read with TryRead(out frame, out tag)");
        lock (_lock)
        {
            int taken = 0;
            long bytes = 0;
            while (taken < destination.Length && _count > 0)
            {
                ref Frame oldest = ref _slots[_head];
                if (taken > 0 && bytes + oldest.Length > maxBytes)
                {
                    break;
                }

                bytes += oldest.Length;
                destination[taken++] = oldest;
                RemoveOldest();
            }

            _totalRead += taken;
            return taken;
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

            // Empty and live: arm under the lock, so a Write either came before (and we returned
            // true above) or comes after and claims this wait (Ring.I7).
            return _waiter.Arm(cancellationToken);
        }
    }

    /// <summary>
    /// Ends the ring: later writes are ignored, buffered frames stay readable, and once drained
    /// waits answer false (or throw <paramref name="error"/>). Only the first call has an effect.
    /// </summary>
    /// <param name="error">The terminal error the consumer sees after draining, or null for a normal end.</param>
    public void Complete(Exception? error = null)
    {
        bool wake;
        lock (_lock)
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            _completionError = error;
            wake = _waiter.TryClaim();
        }

        if (wake)
        {
            if (error is null)
            {
                _waiter.Complete(false);
            }
            else
            {
                _waiter.Fail(error);
            }
        }
    }

    // Caller holds _lock and the ring is not completed. Evicts the oldest until the frame fits,
    // admits it, and returns how many were evicted.
    private int AdmitLocked(in Frame frame, int tag)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        int evicted = 0;
        int length = frame.Length;
        while (_count > 0 && (_count >= CapacityFrames || _bytes + length > CapacityBytes))
        {
            ReleaseDroppedLocked(_slots[_head]);
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
        if (_tags is not null)
        {
            _tags[tail] = tag;
        }

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
        return evicted;
    }

    // Caller holds _lock. The ring owns a leased frame it drops, so it returns it (Ring.I12). The
    // return is the pool's own short lock section and ArrayPool's, never foreign code.
    private void ReleaseDroppedLocked(in Frame frame)
    {
        if (frame.IsLeased)
        {
            frame.Release();
            _leasesReleased++;
        }
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

    // Caller holds _lock and the array is full but below the frame bound (Ring.I1 bounds the growth).
    private void Grow()
    {
        Debug.Assert(_slots.Length < CapacityFrames);
        var larger = new Frame[(int)Math.Min((long)_slots.Length * 2, CapacityFrames)];
        int firstPart = Math.Min(_count, _slots.Length - _head);
        Array.Copy(_slots, _head, larger, 0, firstPart);
        Array.Copy(_slots, 0, larger, firstPart, _count - firstPart);
        if (_tags is not null)
        {
            var tags = new int[larger.Length];
            Array.Copy(_tags, _head, tags, 0, firstPart);
            Array.Copy(_tags, 0, tags, firstPart, _count - firstPart);
            _tags = tags;
        }

        _slots = larger;
        _head = 0;
    }
}
