using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Transport;

// Invariants of the pool (tests in tests/Transport.Tests/Buffering/LeaseSlabTests.cs; the lease's own,
// Lease.L1-L2 and L9, are listed in PayloadLease.cs):
//
// Lease.L3: The steady state of rent, copy and release allocates nothing: slabs, their buffers and their
//           lease objects are reused; sharing a lease allocates nothing either.
//           LeaseTests.L3_rent_copy_release_allocates_nothing_in_steady_state
// Lease.L4: A slab whose messages were released on one thread is rented again on another: a slab goes
//           back to the depot once it is sealed and its last message released, wherever that happens.
//           LeaseSlabTests.L4_a_slab_released_on_one_thread_is_rented_on_another
// Lease.L5: Bounds: the depot keeps at most MaxIdleSlabs slabs (MaxIdleBytes of buffers) and
//           MaxIdleSoloShells shells without buffers; each thread writes into at most one slab per pool;
//           every slab created is idle, some thread's current slab, holding live messages, or dropped.
//           LeaseSlabTests.L5_the_depot_stays_within_its_bounds_and_every_slab_is_accounted_for
// Lease.L6: No buffer is ever live in two messages: under many threads renting, handing frames to each
//           other and releasing, every payload reads back exactly what was written into it.
//           LeaseSlabTests.L6_no_payload_is_live_in_two_frames_under_many_threads
// Lease.L7: Rent, copy and release across two threads (the receive path's shape) allocates less than
//           8 bytes per message in steady state.
//           LeaseSlabTests.L7_two_thread_rent_release_allocates_under_8_bytes_per_message
// Lease.L8: A thread writes into one pool's slab at a time: using another pool seals the first one's
//           slab, so a slab (and every lease in it) only ever returns to the pool that created it.
//           LeaseSlabTests.L8_a_thread_switching_pools_returns_each_slab_to_its_own_pool
// Lease.L10: Payloads are laid out in rent order in their slab, and a slab is written again only after
//           every message in it was released and it was sealed: what the receive thread writes was last
//           touched a whole slab ago, not by the consumer a moment ago (ADR 0022).
//           LeaseSlabTests.L10_payloads_follow_each_other_in_a_slab_and_a_slab_is_reused_only_when_empty

/// <summary>
/// The pool behind lease mode (ADR 0009, 0013, 0022): payloads are copied one after another into
/// 64 KiB slabs, each message with a <see cref="PayloadLease"/> of the slab for its ownership; a slab
/// goes back to the pool when it is sealed and its last message released, and the steady state
/// allocates nothing (Lease.L3).
/// </summary>
/// <remarks>
/// <para>
/// Why slabs (ADR 0022, measured): the previous pool recycled one lease object and one array per
/// message through per-thread magazines. In the receive path the consumer's thread releases and the
/// receive thread rents again at once, so every rent wrote cache lines the other core had just
/// read or written: at 100 B lease mode cost ~350 ns of CPU per message more than owned arrays and ran
/// at 0.55-0.65x of them. A lease object allocated fresh per message (as an owned array is) closed the gap,
/// so the cost was the recycling, not the instructions. Here the receive thread writes payloads and
/// leases in order through a slab whose lines were last touched one whole slab ago (the depot hands
/// out the longest-idle slab), the consumer reads them in the same order, and the only line both
/// threads write per message is none: the slab's live count is written by the releasing threads
/// only, until the writer seals it.
/// </para>
/// <para>
/// Why not a library type: <see cref="ArrayPool{T}.Shared"/> alone was the first version of lease mode
/// (157 B allocated per 100 B message, ADR 0009 3.4) and has no lease objects or generations;
/// <c>MemoryPool</c> hands out a block per message, which is the recycling measured above.
/// </para>
/// <para>
/// A payload larger than <see cref="SoloThreshold"/> gets a slab of its own (a shell whose buffer is
/// rented from <see cref="ArrayPool{T}.Shared"/> for that message and returned with it). Holding one
/// leased frame keeps its whole slab from reuse: lease mode is for frames released promptly (ADR 0009).
/// A thread that ends with a slab half written leaves it to the GC, like a frame never released.
/// </para>
/// </remarks>
internal sealed class PayloadLeasePool
{
    /// <summary>The pool every leased frame of this process comes from.</summary>
    public static readonly PayloadLeasePool Shared = new();

    /// <summary>The bytes of one slab's buffer (under the large object heap's threshold).</summary>
    internal const int SlabBytes = 64 * 1024;

    /// <summary>Payloads longer than this get a slab of their own.</summary>
    internal const int SoloThreshold = SlabBytes / 4;

    /// <summary>The most messages one slab holds (a slab of tiny messages is sealed at this count).</summary>
    internal const int MaxLeasesPerSlab = 1024;

    /// <summary>The most bytes of buffers the depot's idle slabs keep.</summary>
    internal const long MaxIdleBytes = 64L * 1024 * 1024;

    /// <summary>The most idle slabs the depot keeps (<see cref="MaxIdleBytes"/> of buffers).</summary>
    internal const int MaxIdleSlabs = (int)(MaxIdleBytes / SlabBytes);

    /// <summary>The most idle solo shells the depot keeps (they hold no buffer).</summary>
    internal const int MaxIdleSoloShells = 256;

    // Payload offsets in a slab are multiples of this (the copy starts aligned).
    private const int Alignment = 8;

    // The calling thread's writer, for the pool it belongs to (at most one pool per thread).
    [ThreadStatic]
    private static Writer? t_writer;

    private readonly Lock _lock = new();
    private readonly Queue<LeaseSlab> _idle = new();        // guarded by _lock: idle slabs, longest idle first
    private readonly Stack<LeaseSlab> _soloShells = new();  // guarded by _lock: idle solo shells, no buffer
    private long _slabsCreated;   // Interlocked
    private long _leasesCreated;  // Interlocked
    private long _slabsDropped;   // Interlocked: idle slabs let go to the GC over the bounds

    /// <summary>Leases out a buffer of exactly <paramref name="length"/> payload bytes.</summary>
    /// <param name="length">The payload length.</param>
    /// <returns>A lease whose <see cref="PayloadLease.Writable"/> is <paramref name="length"/> bytes.</returns>
    public PayloadLease Rent(int length)
    {
        PayloadLease lease = length > SoloThreshold ? RentSolo(length) : WriterOfThisThread().Next(length);
#if DEBUG
        Tracker?.OnRent();
#endif
        return lease;
    }

#if DEBUG
    /// <summary>
    /// Debug builds only: counts this pool's rents, shares and releases and records misuse (tests set it
    /// on a pool of their own; a Release build has neither the field nor the calls).
    /// </summary>
    internal LeaseTracker? Tracker { get; set; }
#endif

    /// <summary>Slabs in the depot (not written into by any thread, no live message). For tests.</summary>
    internal int IdleSlabs
    {
        get
        {
            lock (_lock)
            {
                return _idle.Count;
            }
        }
    }

    /// <summary>Bytes of buffers the depot's idle slabs keep. For tests.</summary>
    internal long IdleBytes => (long)IdleSlabs * SlabBytes;

    /// <summary>Solo shells in the depot. For tests.</summary>
    internal int IdleSoloShells
    {
        get
        {
            lock (_lock)
            {
                return _soloShells.Count;
            }
        }
    }

    /// <summary>Slabs this pool has created (solo shells included). For tests.</summary>
    internal long SlabsCreated => Interlocked.Read(ref _slabsCreated);

    /// <summary>Lease objects this pool has created. For tests.</summary>
    internal long LeasesCreated => Interlocked.Read(ref _leasesCreated);

    /// <summary>Slabs let go to the GC because the depot was full. For tests.</summary>
    internal long SlabsDropped => Interlocked.Read(ref _slabsDropped);

    /// <summary>The slab the calling thread writes into for this pool, if any. For tests.</summary>
    internal LeaseSlab? CurrentSlabOfThisThread => t_writer is { } writer && writer.Pool == this ? writer.Current : null;

    /// <summary>Seals the slab the calling thread writes into for this pool (it returns once its messages are released). For tests.</summary>
    internal void FlushThisThread()
    {
        if (t_writer is { } writer && writer.Pool == this)
        {
            t_writer = null;
            writer.Seal();
        }
    }

    /// <summary>A new lease object of <paramref name="slab"/> (called by the slab, the first time it issues that many).</summary>
    internal PayloadLease CreateLease(LeaseSlab slab)
    {
        Interlocked.Increment(ref _leasesCreated);
        return new PayloadLease(slab);
    }

    /// <summary>Takes back a slab that is sealed and has no live message (called by <see cref="LeaseSlab"/> only).</summary>
    internal void ReturnSlab(LeaseSlab slab)
    {
#if DEBUG
        if (Tracker is { Quarantine: true })
        {
            return; // never reused: a later read through memory taken from its leases throws (Lease.L2)
        }
#endif
        if (slab.IsSolo)
        {
            byte[] buffer = slab.Buffer;
            slab.Buffer = [];
            ArrayPool<byte>.Shared.Return(buffer); // outside the lock
            lock (_lock)
            {
                if (_soloShells.Count < MaxIdleSoloShells)
                {
                    _soloShells.Push(slab);
                    return;
                }
            }
        }
        else
        {
            lock (_lock)
            {
                if (_idle.Count < MaxIdleSlabs)
                {
                    _idle.Enqueue(slab);
                    return;
                }
            }
        }

        Interlocked.Increment(ref _slabsDropped);
    }

    // The longest-idle slab of the depot (Lease.L10), or a new one; ready for a new use.
    private LeaseSlab TakeSlab()
    {
        LeaseSlab? slab;
        lock (_lock)
        {
            _idle.TryDequeue(out slab);
        }

        if (slab is null)
        {
            Interlocked.Increment(ref _slabsCreated);
            slab = new LeaseSlab(this, GC.AllocateUninitializedArray<byte>(SlabBytes), isSolo: false);
        }

        slab.BeginUse();
        return slab;
    }

    // A payload too large to share a slab: a shell of its own, with a buffer rented for this message.
    private PayloadLease RentSolo(int length)
    {
        LeaseSlab? shell;
        lock (_lock)
        {
            _soloShells.TryPop(out shell);
        }

        if (shell is null)
        {
            Interlocked.Increment(ref _slabsCreated);
            shell = new LeaseSlab(this, [], isSolo: true);
        }

        shell.Buffer = ArrayPool<byte>.Shared.Rent(length);
        shell.BeginUse();
        PayloadLease lease = shell.LeaseAt(0);
        lease.Reset(shell.Buffer, 0, length);
        shell.Seal(issued: 1); // the one message: the shell returns when it is released
        return lease;
    }

    private Writer WriterOfThisThread()
    {
        Writer? writer = t_writer;
        return writer is not null && writer.Pool == this ? writer : Bind();
    }

    // The thread's first use of this pool, or a switch from another pool: that pool's slab is sealed (Lease.L8).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Writer Bind()
    {
        t_writer?.Seal();
        var writer = new Writer(this);
        t_writer = writer;
        return writer;
    }

    /// <summary>
    /// One thread's position in its current slab. Only that thread reads or writes it, so issuing a
    /// message touches no line another thread writes (the slab's live count is the releasers').
    /// </summary>
    private sealed class Writer(PayloadLeasePool pool)
    {
        public PayloadLeasePool Pool { get; } = pool;

        public LeaseSlab? Current { get; private set; }

        private byte[] _buffer = [];
        private int _used;
        private int _issued;

        public PayloadLease Next(int length)
        {
            if (Current is null || _used + length > _buffer.Length || _issued == MaxLeasesPerSlab)
            {
                Replace();
            }

            int offset = _used;
            _used = offset + ((length + Alignment - 1) & ~(Alignment - 1));
            PayloadLease lease = Current!.LeaseAt(_issued++);
            lease.Reset(_buffer, offset, length);
            return lease;
        }

        public void Seal()
        {
            LeaseSlab? current = Current;
            int issued = _issued;
            Current = null;
            _buffer = [];
            _used = 0;
            _issued = 0;
            current?.Seal(issued);
        }

        private void Replace()
        {
            Seal();
            LeaseSlab slab = Pool.TakeSlab();
            Current = slab;
            _buffer = slab.Buffer;
        }
    }
}

/// <summary>
/// A buffer that holds payloads one after another, with one <see cref="PayloadLease"/> per message
/// (reused with the slab). It goes back to its pool once it is sealed (its writer moved on) and every
/// message in it was released.
/// </summary>
internal sealed class LeaseSlab
{
    // The writer's hold: the live count starts this high, so releases before the seal never reach 0;
    // sealing subtracts it and adds the messages issued.
    private const int WriterHold = 1 << 30;

    private PayloadLease?[] _leases = [];  // the writer's (one thread at a time); lease objects by issue order
    private int _live;                     // Interlocked by releasers and the seal

    internal LeaseSlab(PayloadLeasePool pool, byte[] buffer, bool isSolo)
    {
        Pool = pool;
        Buffer = buffer;
        IsSolo = isSolo;
    }

    /// <summary>The pool this slab belongs to.</summary>
    public PayloadLeasePool Pool { get; }

    /// <summary>The payload bytes (a solo shell's buffer is rented per use and empty while idle).</summary>
    public byte[] Buffer { get; set; }

    /// <summary>True for a shell holding one large payload.</summary>
    public bool IsSolo { get; }

    /// <summary>The lease for the slab's <paramref name="index"/>-th message of this use (created once, then reused).</summary>
    public PayloadLease LeaseAt(int index)
    {
        PayloadLease?[] leases = _leases;
        if (index >= leases.Length)
        {
            Array.Resize(ref _leases, Math.Min(PayloadLeasePool.MaxLeasesPerSlab, Math.Max(16, leases.Length * 2)));
            leases = _leases;
        }

        return leases[index] ??= Pool.CreateLease(this);
    }

    /// <summary>Starts a use: the writer holds the slab until it seals it.</summary>
    public void BeginUse()
    {
        Debug.Assert(Volatile.Read(ref _live) == 0, "a slab is reused only when no message in it is live");
        Volatile.Write(ref _live, WriterHold);
    }

    /// <summary>The writer is done with the slab after <paramref name="issued"/> messages; it returns once they are released.</summary>
    public void Seal(int issued)
    {
        if (Interlocked.Add(ref _live, issued - WriterHold) == 0)
        {
            Pool.ReturnSlab(this);
        }
    }

    /// <summary>A message's last holder released it (called by <see cref="PayloadLease"/> once per message).</summary>
    public void MessageReleased()
    {
        if (Interlocked.Decrement(ref _live) == 0)
        {
            Pool.ReturnSlab(this);
        }
    }
}
