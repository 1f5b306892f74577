using System.Diagnostics;

namespace Transport.Nats.Consuming;

// Invariants (each proven by the named test in tests/Transport.Nats.Tests/Consuming/FeedRingTests.cs):
//
// FeedRing.F1: Count <= CapacityFrames and Bytes <= CapacityBytes after every write, unless the ring holds
//     only the newest frame (always admitted): the stack's receive ring bound (Ring.I1, Ring.I2).
//     FeedRingTests.F1_bounds_hold_and_the_newest_frame_is_always_admitted
// FeedRing.F2: Overflow evicts the oldest frame first and counts it in TotalLagged (Ring.I3).
//     FeedRingTests.F2_overflow_evicts_the_oldest_and_counts_it
// FeedRing.F3: Conservation: TotalWritten == TotalRead + TotalLagged + Count (Ring.I4).
//     FeedRingTests.F3_conservation_under_random_operations
// FeedRing.F4: A pending wait is completed by the next write or by Complete; after Complete, buffered frames
//     stay readable, then the wait answers false (or throws the completion error).
//     FeedRingTests.F4_waits_are_woken_by_writes_and_completion

/// <summary>Where a frame came from in the feed's stream.</summary>
/// <param name="StreamSequence">JetStream's sequence.</param>
/// <param name="RelaySequence">The relay's per-feed sequence.</param>
/// <param name="Generation">The publishing relay's lease generation.</param>
/// <param name="ReplyTo">The message's acknowledgement subject (durable consumers); null otherwise.</param>
internal readonly record struct FrameOrigin(ulong StreamSequence, long RelaySequence, long Generation, string? ReplyTo);

/// <summary>
/// The consumer's receive ring: the same drop-oldest policy, bounds and lag counting as the stack's receive
/// ring (Ring.I1 to Ring.I4), holding each frame's origin for the position and the acknowledgement.
/// Single producer (the consume loop), single consumer (the adapter).
/// </summary>
internal sealed class FeedRing
{
    private readonly Lock _lock = new();

    // Guarded by _lock.
    private (Frame Frame, FrameOrigin Origin)[] _slots;
    private int _head;
    private int _count;
    private long _bytes;
    private long _totalWritten;
    private long _totalRead;
    private long _totalLagged;
    private bool _completed;
    private Exception? _error;
    private TaskCompletionSource<bool>? _waiter;

    public FeedRing(int capacityFrames, long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityFrames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1L);
        CapacityFrames = capacityFrames;
        CapacityBytes = capacityBytes;
        _slots = new (Frame, FrameOrigin)[Math.Min(capacityFrames, 64)];
    }

    public int CapacityFrames { get; }

    public long CapacityBytes { get; }

    public int Count
    {
        get { lock (_lock) { return _count; } }
    }

    public long Bytes
    {
        get { lock (_lock) { return _bytes; } }
    }

    public long TotalLagged
    {
        get { lock (_lock) { return _totalLagged; } }
    }

    public long TotalWritten
    {
        get { lock (_lock) { return _totalWritten; } }
    }

    public long TotalRead
    {
        get { lock (_lock) { return _totalRead; } }
    }

    /// <summary>Admits a frame, evicting the oldest while a bound would be exceeded (F1, F2).</summary>
    /// <returns>How many frames were evicted; 0 after <see cref="Complete"/> (the frame is ignored).</returns>
    public int Write(in Frame frame, in FrameOrigin origin)
    {
        int evicted = 0;
        TaskCompletionSource<bool>? wake;
        lock (_lock)
        {
            if (_completed)
            {
                return 0;
            }

            while (_count > 0 && (_count >= CapacityFrames || _bytes + frame.Length > CapacityBytes))
            {
                RemoveOldest();
                evicted++;
            }

            if (_count == _slots.Length)
            {
                Grow();
            }

            _slots[(_head + _count) % _slots.Length] = (frame, origin);
            _count++;
            _bytes += frame.Length;
            _totalWritten++;
            _totalLagged += evicted;
            Debug.Assert(_count <= CapacityFrames && (_bytes <= CapacityBytes || _count == 1));
            wake = _waiter;
            _waiter = null;
        }

        wake?.TrySetResult(true);
        return evicted;
    }

    public bool TryRead(out Frame frame, out FrameOrigin origin)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                frame = default;
                origin = default;
                return false;
            }

            (frame, origin) = _slots[_head];
            RemoveOldest();
            _totalRead++;
            return true;
        }
    }

    /// <summary>Takes up to <paramref name="destination"/>.Length frames; <paramref name="last"/> is the origin of the last one.</summary>
    public int TryReadBatch(Span<Frame> destination, out FrameOrigin last)
    {
        last = default;
        lock (_lock)
        {
            int taken = 0;
            while (taken < destination.Length && _count > 0)
            {
                (destination[taken], last) = _slots[_head];
                RemoveOldest();
                taken++;
            }

            _totalRead += taken;
            return taken;
        }
    }

    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken)
    {
        Task<bool> wait;
        lock (_lock)
        {
            if (_count > 0)
            {
                return new ValueTask<bool>(true);
            }

            if (_completed)
            {
                return _error is null ? new ValueTask<bool>(false) : ValueTask.FromException<bool>(_error);
            }

            _waiter ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            wait = _waiter.Task;
        }

        return new ValueTask<bool>(wait.WaitAsync(cancellationToken));
    }

    /// <summary>Ends the ring: buffered frames stay readable, then waits answer false or throw <paramref name="error"/> (F4).</summary>
    public void Complete(Exception? error = null)
    {
        TaskCompletionSource<bool>? wake;
        lock (_lock)
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            _error = error;
            wake = _waiter;
            _waiter = null;
        }

        if (wake is not null)
        {
            if (error is null)
            {
                wake.TrySetResult(false);
            }
            else
            {
                wake.TrySetException(error);
            }
        }
    }

    private void RemoveOldest()
    {
        ref var slot = ref _slots[_head];
        _bytes -= slot.Frame.Length;
        slot = default;
        _head = (_head + 1) % _slots.Length;
        _count--;
    }

    private void Grow()
    {
        var larger = new (Frame, FrameOrigin)[(int)Math.Min((long)_slots.Length * 2, CapacityFrames)];
        for (int i = 0; i < _count; i++)
        {
            larger[i] = _slots[(_head + i) % _slots.Length];
        }

        _slots = larger;
        _head = 0;
    }
}
