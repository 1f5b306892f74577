using System.Diagnostics;
using Transport.WebSockets.Buffering;

namespace Transport.WebSockets.Connection;

/// <summary>Writes a batch of data frames onward (the ring, or a rotation's filter in front of it); returns the ring's evictions.</summary>
/// <param name="batch">The frames; the writer may reorder or clear slots (it owns them for the call).</param>
internal delegate int BatchWriter(Span<Frame> batch);

/// <summary>
/// The data frames one socket received before its up-edge (while its session initializer ran): held
/// out of the receive ring, then written to it in arrival order right after the edge is published,
/// so a consumer never reads a frame of a socket whose <c>Connected</c>/<c>Resumed</c> it cannot see yet.
/// </summary>
/// <remarks>
/// <para>
/// One per session that has an initializer (without one, the session publishes its edge before it
/// starts receiving). The receive loop hands every batch here; before <see cref="Release(DropOldestRing)"/> the batch
/// is held, after it the caller writes to the ring itself (one volatile read per batch once up).
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Hold.H1 order and edge: a batch handed off before <see cref="Release(DropOldestRing)"/> is held; <see cref="Release(DropOldestRing)"/>
/// writes every held frame to the ring in arrival order and only then lets later batches through, all
/// under one gate, so the ring sees the socket's frames in arrival order and none before the edge
/// (tests: Item7_frames_received_while_the_initializer_runs_are_held_until_the_up_edge,
/// H1_held_frames_reach_the_ring_in_order_before_any_later_batch).</item>
/// <item>Hold.H2 bounded like the ring: at most the ring's frame bound and byte bound are held (the newest
/// frame is always admitted, even one larger than the byte bound); the oldest held frame is dropped first,
/// and the count of drops is returned for the caller to count as lagged (test: H2_the_hold_is_bounded_like_the_ring_and_counts_what_it_drops).</item>
/// <item>Hold.H3 a leased frame the hold drops (overflow, or <see cref="Drop"/> when the socket never went
/// up) is released exactly once; a held frame released to the ring is the ring's (Ring.I12) (tests:
/// H3_leased_frames_the_hold_drops_are_released_exactly_once, Item7_lease_mode_frames_of_a_socket_that_never_went_up_are_released_and_counted).</item>
/// <item>Hold.H4 after <see cref="Drop"/> nothing more is held: a late batch is dropped (and released) at
/// once and counted like the rest (test: H2_the_hold_is_bounded_like_the_ring_and_counts_what_it_drops).</item>
/// </list>
/// </remarks>
internal sealed class UpEdgeHold
{
    private const int InitialSlots = 16;

    private readonly Lock _gate = new();
    private readonly int _capacityFrames;
    private readonly long _capacityBytes;

    // Guarded by _gate: a circular buffer of the held frames, oldest at _head.
    private Frame[] _slots = new Frame[InitialSlots];
    private int _head;
    private int _count;
    private long _bytes;
    private bool _dropped;

    // Set under _gate after the held frames were written to the ring (Hold.H1); read without it.
    private volatile bool _released;

    /// <summary>Creates an empty hold bounded like the ring it feeds.</summary>
    /// <param name="capacityFrames">The ring's frame bound.</param>
    /// <param name="capacityBytes">The ring's payload byte bound.</param>
    public UpEdgeHold(int capacityFrames, long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityFrames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1L);
        _capacityFrames = capacityFrames;
        _capacityBytes = capacityBytes;
    }

    /// <summary>True once the held frames went to the ring: batches go straight there.</summary>
    public bool IsReleased => _released;

    /// <summary>Frames held now.</summary>
    public int Count
    {
        get { lock (_gate) { return _count; } }
    }

    /// <summary>Payload bytes held now.</summary>
    public long Bytes
    {
        get { lock (_gate) { return _bytes; } }
    }

    /// <summary>
    /// Holds <paramref name="batch"/> (data frames, oldest first) unless the edge has passed. Receive loop only.
    /// </summary>
    /// <param name="batch">The batch.</param>
    /// <param name="dropped">How many frames the hold dropped to stay within its bounds (Hold.H2), or dropped because the socket never went up (Hold.H4).</param>
    /// <returns>False when the edge has passed: the caller writes the batch to the ring.</returns>
    public bool TryHold(ReadOnlySpan<Frame> batch, out int dropped)
    {
        dropped = 0;
        if (_released)
        {
            return false;
        }

        lock (_gate)
        {
            if (_released)
            {
                return false;
            }

            foreach (ref readonly Frame frame in batch)
            {
                Debug.Assert(frame.IsData, "Only data frames are held.");
                if (_dropped)
                {
                    // Hold.H4: the socket will never go up.
                    frame.Release();
                    dropped++;
                    continue;
                }

                dropped += AdmitLocked(frame);
            }

            return true;
        }
    }

    /// <summary>
    /// The up-edge has been published: writes the held frames to <paramref name="ring"/> in order and
    /// lets later batches through (Hold.H1). Returns how many frames the ring evicted meanwhile.
    /// </summary>
    public int Release(DropOldestRing ring) => Release(batch => ring.WriteBatch(batch));

    /// <summary>As <see cref="Release(DropOldestRing)"/>, through <paramref name="write"/> (a rotation's overlap filter).</summary>
    public int Release(BatchWriter write)
    {
        lock (_gate)
        {
            Debug.Assert(!_dropped, "A dropped hold is never released.");
            var evicted = 0;
            if (_count > 0)
            {
                var first = Math.Min(_count, _slots.Length - _head);
                evicted += write(_slots.AsSpan(_head, first));
                evicted += write(_slots.AsSpan(0, _count - first));
                ClearLocked();
            }

            _released = true;
            return evicted;
        }
    }

    /// <summary>
    /// The socket will never go up: drops every held frame, releasing leased ones (Hold.H3), and every
    /// frame handed off later (Hold.H4). Returns how many were dropped now.
    /// </summary>
    public int Drop()
    {
        lock (_gate)
        {
            Debug.Assert(!_released, "A released hold has nothing to drop.");
            _dropped = true;
            var dropped = _count;
            for (var i = 0; i < _count; i++)
            {
                _slots[(_head + i) % _slots.Length].Release();
            }

            ClearLocked();
            return dropped;
        }
    }

    // Drop-oldest within the ring's bounds (Hold.H2); returns how many older frames were dropped.
    private int AdmitLocked(in Frame frame)
    {
        var dropped = 0;
        while (_count > 0 && (_count >= _capacityFrames || _bytes + frame.Length > _capacityBytes))
        {
            ref Frame oldest = ref _slots[_head];
            oldest.Release(); // Hold.H3
            _bytes -= oldest.Length;
            oldest = default;
            _head = _head + 1 == _slots.Length ? 0 : _head + 1;
            _count--;
            dropped++;
        }

        if (_count == _slots.Length)
        {
            Grow();
        }

        _slots[(_head + _count) % _slots.Length] = frame;
        _count++;
        _bytes += frame.Length;
        return dropped;
    }

    private void Grow()
    {
        var larger = new Frame[(int)Math.Min((long)_slots.Length * 2, Math.Max(_capacityFrames, InitialSlots))];
        var firstPart = Math.Min(_count, _slots.Length - _head);
        Array.Copy(_slots, _head, larger, 0, firstPart);
        Array.Copy(_slots, 0, larger, firstPart, _count - firstPart);
        _slots = larger;
        _head = 0;
    }

    private void ClearLocked()
    {
        Array.Clear(_slots);
        _head = 0;
        _count = 0;
        _bytes = 0;
    }
}
