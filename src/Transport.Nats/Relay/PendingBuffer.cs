using System.Diagnostics;

namespace Transport.Nats.Relay;

// Invariants (each proven by the named test in tests/Transport.Nats.Tests/Relay/PendingBufferTests.cs):
//
// Buffer.B1: Bounded: after every Admit, Count <= CapacityFrames and Bytes <= CapacityBytes, except for
//     frames in flight (never evicted: they may be stored already) and the newest frame, which is always admitted.
//     PendingBufferTests.B1_outage_is_bounded_by_count_and_bytes
// Buffer.B2: Only frames waiting to be sent are evicted, oldest unsequenced first, and each is counted:
//     Dropped (and DroppedSequenced when it had been sent before and so leaves a sequence gap).
//     PendingBufferTests.B2_eviction_takes_the_oldest_waiting_frame_and_never_one_in_flight
// Buffer.B3: Sequences are given at a frame's first send, consecutive and in buffer order; a frame keeps its
//     sequence through every retry, so JetStream's de-duplication (Nats-Msg-Id) stores a retried frame once.
//     PendingBufferTests.B3_sequences_are_consecutive_and_kept_across_retries
// Buffer.B4: Conservation: Admitted == Acknowledged + Dropped + Count at every quiescent point.
//     PendingBufferTests.B4_conservation_under_random_operations
// Buffer.B5: Fail puts every frame in flight back at the head of the waiting frames, in order.
//     PendingBufferTests.B5_fail_requeues_in_flight_frames_in_order

/// <summary>
/// The relay's frames between the source and JetStream's acknowledgement: those in flight (published,
/// awaiting the ack) at the head, then those waiting to be published. Bounded by frames and bytes
/// (the bus outage bound); on overflow the oldest waiting frame is dropped and counted.
/// </summary>
/// <remarks>Not thread-safe: the relay guards it with one lock.</remarks>
internal sealed class PendingBuffer
{
    private Entry[] _items = new Entry[64];
    private int _head;
    private int _count;
    private int _inFlight;
    private long _nextSequence;

    /// <summary>Creates an empty buffer.</summary>
    /// <param name="capacityFrames">The frame bound (at least 1).</param>
    /// <param name="capacityBytes">The payload byte bound (at least 1).</param>
    /// <param name="lastSequence">The last sequence already used on the feed: the first frame sent gets the next one.</param>
    public PendingBuffer(int capacityFrames, long capacityBytes, long lastSequence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityFrames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1L);
        ArgumentOutOfRangeException.ThrowIfNegative(lastSequence);
        CapacityFrames = capacityFrames;
        CapacityBytes = capacityBytes;
        _nextSequence = lastSequence + 1;
    }

    public int CapacityFrames { get; }

    public long CapacityBytes { get; }

    /// <summary>Frames held (in flight and waiting).</summary>
    public int Count => _count;

    /// <summary>Payload bytes held.</summary>
    public long Bytes { get; private set; }

    /// <summary>Frames published and not yet acknowledged.</summary>
    public int InFlight => _inFlight;

    /// <summary>Frames waiting to be published.</summary>
    public int Waiting => _count - _inFlight;

    public long Admitted { get; private set; }

    public long Acknowledged { get; private set; }

    /// <summary>Frames evicted before JetStream acknowledged them.</summary>
    public long Dropped { get; private set; }

    /// <summary>The evicted frames that had been sent (and so had a sequence): consumers see their sequence missing.</summary>
    public long DroppedSequenced { get; private set; }

    /// <summary>The sequence of the newest acknowledged frame (0: none yet).</summary>
    public long LastAcknowledgedSequence { get; private set; }

    /// <summary>When the oldest held frame was admitted (a TimeProvider timestamp), or null when empty.</summary>
    public long? OldestAdmittedAt => _count == 0 ? null : _items[_head].AdmittedAt;

    /// <summary>Admits a frame, evicting the oldest waiting frames while a bound would be exceeded (B1, B2).</summary>
    /// <returns>How many frames this admission evicted.</returns>
    public int Admit(Frame frame, string subject, long admittedAt, long receivedAtUnixMicros = 0)
    {
        int evicted = 0;
        while (_count > _inFlight && (_count >= CapacityFrames || Bytes + frame.Length > CapacityBytes))
        {
            EvictOneWaiting();
            evicted++;
        }

        if (_count == _items.Length)
        {
            Grow();
        }

        _items[Index(_count)] = new Entry(frame, subject, 0, admittedAt, receivedAtUnixMicros);
        _count++;
        Bytes += frame.Length;
        Admitted++;
        return evicted;
    }

    /// <summary>
    /// Moves up to <paramref name="max"/> waiting frames into flight, giving each its sequence at its
    /// first send (B3), and copies them to <paramref name="destination"/>.
    /// </summary>
    /// <returns>How many frames to publish now, oldest first.</returns>
    public int TakeToSend(Span<Entry> destination, int max, long now = 0)
    {
        int taken = 0;
        while (taken < destination.Length && taken < max && _inFlight < _count)
        {
            ref Entry entry = ref _items[Index(_inFlight)];
            entry = entry with
            {
                Sequence = entry.Sequence == 0 ? _nextSequence++ : entry.Sequence,
                SentAt = now,
                Sends = entry.Sends + 1,
            };

            destination[taken++] = entry;
            _inFlight++;
        }

        return taken;
    }

    /// <summary>
    /// Records JetStream's acknowledgement of the frame with <paramref name="sequence"/> and removes the
    /// acknowledged frames at the head.
    /// </summary>
    /// <returns>False when no frame in flight has that sequence (a late ack of an earlier attempt).</returns>
    public bool Acknowledge(long sequence)
    {
        for (int i = 0; i < _inFlight; i++)
        {
            ref Entry entry = ref _items[Index(i)];
            if (entry.Sequence == sequence)
            {
                entry = entry with { Acked = true };
                while (_inFlight > 0 && _items[_head].Acked)
                {
                    LastAcknowledgedSequence = Math.Max(LastAcknowledgedSequence, _items[_head].Sequence);
                    RemoveHead();
                    _inFlight--;
                    Acknowledged++;
                }

                return true;
            }
        }

        return false;
    }

    /// <summary>When the oldest frame in flight was admitted; null when none is in flight.</summary>
    public Entry? OldestInFlight => _inFlight == 0 ? null : _items[_head];

    /// <summary>Every frame in flight goes back to waiting, at the head and in order (B5); acknowledged marks are cleared.</summary>
    /// <returns>How many frames were in flight.</returns>
    public int Fail()
    {
        int failed = _inFlight;
        for (int i = 0; i < _inFlight; i++)
        {
            ref Entry entry = ref _items[Index(i)];
            entry = entry with { Acked = false };
        }

        _inFlight = 0;
        return failed;
    }

    private void EvictOneWaiting()
    {
        Debug.Assert(_count > _inFlight);

        // Buffer.B2: the oldest waiting frame that was never sent; only when every waiting frame was sent
        // before (retries after a failure) the oldest of those, which leaves a sequence gap.
        int victim = _inFlight;
        while (victim < _count && _items[Index(victim)].Sequence != 0)
        {
            victim++;
        }

        if (victim == _count)
        {
            victim = _inFlight;
            DroppedSequenced++;
        }

        Bytes -= _items[Index(victim)].Frame.Length;
        Dropped++;

        // Close the hole: every frame before it (in flight, then sent-before waiting ones: a few) moves
        // one slot towards the tail, and the head advances past the freed first slot. Order is kept.
        for (int i = victim; i > 0; i--)
        {
            _items[Index(i)] = _items[Index(i - 1)];
        }

        _items[_head] = default;
        _head = (_head + 1) % _items.Length;
        _count--;
    }

    private void RemoveHead()
    {
        Bytes -= _items[_head].Frame.Length;
        _items[_head] = default;
        _head = (_head + 1) % _items.Length;
        _count--;
    }

    private int Index(int offset) => (_head + offset) % _items.Length;

    private void Grow()
    {
        var larger = new Entry[_items.Length * 2];
        for (int i = 0; i < _count; i++)
        {
            larger[i] = _items[Index(i)];
        }

        _items = larger;
        _head = 0;
    }

    /// <summary>One frame held by the relay.</summary>
    /// <param name="Frame">The frame (an owned copy of a leased one).</param>
    /// <param name="Subject">Its subject (feed, and key when the selector gave one).</param>
    /// <param name="Sequence">Its relay sequence; 0 until its first send.</param>
    /// <param name="AdmittedAt">When the relay read it (TimeProvider timestamp).</param>
    /// <param name="ReceivedAtUnixMicros">When the gateway received it (Unix microseconds), fixed at admission so every retry carries the same.</param>
    /// <param name="SentAt">When it was last published (TimeProvider timestamp).</param>
    /// <param name="Sends">How many times it was published (more than 1: retried).</param>
    /// <param name="Acked">JetStream acknowledged it (it leaves once every older one did).</param>
    internal readonly record struct Entry(Frame Frame, string Subject, long Sequence, long AdmittedAt, long ReceivedAtUnixMicros = 0, long SentAt = 0, int Sends = 0, bool Acked = false);
}
