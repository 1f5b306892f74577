using System.Buffers;
using System.Diagnostics;

namespace Transport;

// Invariants (tests in tests/Transport.Tests/Buffering/LeaseTests.cs):
//
// Lease.L1: A lease is returned to its pool at most once per use: the generation the frame carries
//           must match, so a second Release of the same frame (or of a copy of it) throws instead
//           of handing one buffer to two messages.
//           LeaseTests.L1_double_release_throws_and_never_returns_twice
// Lease.L2: In Debug builds, reading a leased frame's payload after its Release throws
//           (ObjectDisposedException), whether the lease is idle in the pool or re-leased.
//           LeaseTests.L2_use_after_release_is_detected_in_debug
// Lease.L3: Renting after returning reuses the lease object and its buffer: the steady state of
//           rent, copy, release allocates nothing.
//           LeaseTests.L3_rent_copy_release_allocates_nothing_in_steady_state

/// <summary>
/// A pooled payload buffer behind a leased <see cref="Frame"/> (lease mode, docs/adr/0009). The
/// frame's payload is a <see cref="Memory{T}"/> over this manager; <see cref="Frame.Release"/>
/// returns it here with the generation the frame was created with.
/// </summary>
/// <remarks>
/// Not for adapters: they see only <see cref="Frame.IsLeased"/> and <see cref="Frame.Release"/>.
/// The stack's leaves obtain leases through the payload allocator seam.
/// </remarks>
internal sealed class PayloadLease : MemoryManager<byte>
{
    private readonly PayloadLeasePool _pool;
    private byte[] _array;
    private int _length;

    // Bumped by every return: a frame carries the value current when it was created (Lease.L1).
    private int _generation;

    // True while the lease sits in the pool (Debug checks read it, Lease.L2).
    private volatile bool _idle;

    internal PayloadLease(PayloadLeasePool pool)
    {
        _pool = pool;
        _array = [];
        _idle = true;
    }

    /// <summary>The bytes this lease keeps between uses (its array's length; 0 after the pool trimmed it).</summary>
    internal int Capacity => _array.Length;

    /// <summary>The generation a frame created now must carry.</summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>Prepares the lease for a payload of <paramref name="length"/> bytes (called by the pool on rent).</summary>
    internal void Reset(int length)
    {
        // An idle lease keeps its array (the pool bounds what idle leases keep in total): the
        // receive thread rents and the consumer's thread returns, and ArrayPool<byte>.Shared's
        // per-core stacks hold too few arrays for a batch in flight, so going through it each time
        // allocated whenever more than a few dozen frames were outstanding.
        if (_array.Length < length || (_array.Length > 4 * length && _array.Length > 4096))
        {
            TrimArray();
            _array = ArrayPool<byte>.Shared.Rent(length);
        }

        _length = length;
        _idle = false;
    }

    /// <summary>Gives the array back to <see cref="ArrayPool{T}.Shared"/> (the pool keeps too much idle).</summary>
    internal void TrimArray()
    {
        byte[] array = _array;
        _array = [];
        if (array.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    /// <summary>The writable payload, exactly the rented length.</summary>
    public Span<byte> Writable => _array.AsSpan(0, _length);

    /// <summary>Returns the lease if <paramref name="generation"/> is still current (Lease.L1).</summary>
    /// <param name="generation">The generation the frame carries.</param>
    /// <exception cref="InvalidOperationException">The frame was already released.</exception>
    public void Return(int generation)
    {
        if (Interlocked.CompareExchange(ref _generation, generation + 1, generation) != generation)
        {
            throw new InvalidOperationException("This leased frame was already released: a leased payload must be released exactly once (docs/adr/0009).");
        }

        _idle = true;
        _length = 0;
        _pool.Return(this);
    }

    /// <summary>Debug check (Lease.L2): throws when a frame of an earlier generation reads the payload.</summary>
    /// <param name="generation">The generation the frame carries.</param>
    [Conditional("DEBUG")]
    public void AssertLive(int generation)
    {
        if (_idle || Volatile.Read(ref _generation) != generation)
        {
            throw new ObjectDisposedException(nameof(Frame), "This leased frame's payload was read after Release (docs/adr/0009).");
        }
    }

    /// <inheritdoc />
    public override Span<byte> GetSpan()
    {
#if DEBUG
        if (_idle)
        {
            throw new ObjectDisposedException(nameof(Frame), "This leased frame's payload was read after Release (docs/adr/0009).");
        }
#endif
        return _array.AsSpan(0, _length);
    }

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0) =>
        throw new NotSupportedException("Leased payloads cannot be pinned; copy the bytes instead.");

    /// <inheritdoc />
    public override void Unpin()
    {
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        // Not disposable by consumers: Frame.Release is the one way back to the pool.
    }
}

/// <summary>
/// The pool behind lease mode: a bounded stack of idle <see cref="PayloadLease"/> objects, each
/// keeping its array, so the steady state allocates nothing (Lease.L3).
/// </summary>
/// <remarks>
/// One short lock per rent and per return (the receive loop rents, the consumer returns, on two
/// threads). Bounds: at most <see cref="MaxIdle"/> idle leases, keeping at most
/// <see cref="MaxIdleBytes"/> bytes of arrays between them; a lease returned beyond either bound
/// gives its array back to <see cref="ArrayPool{T}.Shared"/> (and, beyond the count, is left to the GC).
/// </remarks>
internal sealed class PayloadLeasePool
{
    /// <summary>The pool every leased frame of this process comes from.</summary>
    public static readonly PayloadLeasePool Shared = new();

    internal const int MaxIdle = 4_096;
    internal const long MaxIdleBytes = 16L * 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly PayloadLease[] _idle = new PayloadLease[MaxIdle];
    private int _count;      // guarded by _lock
    private long _idleBytes; // guarded by _lock: the arrays idle leases keep

    /// <summary>Leases out a buffer of exactly <paramref name="length"/> payload bytes.</summary>
    /// <param name="length">The payload length.</param>
    /// <returns>A lease whose <see cref="PayloadLease.Writable"/> is <paramref name="length"/> bytes.</returns>
    public PayloadLease Rent(int length)
    {
        PayloadLease? lease = null;
        lock (_lock)
        {
            if (_count > 0)
            {
                lease = _idle[--_count];
                _idle[_count] = null!;
                _idleBytes -= lease.Capacity;
            }
        }

        lease ??= new PayloadLease(this);
        lease.Reset(length);
        return lease;
    }

    internal void Return(PayloadLease lease)
    {
        int capacity = lease.Capacity;
        lock (_lock)
        {
            if (_count < MaxIdle && _idleBytes + capacity <= MaxIdleBytes)
            {
                _idle[_count++] = lease;
                _idleBytes += capacity;
                return;
            }
        }

        // Over a bound: the array goes back to the shared pool before the lease is pooled again
        // (never after: a pooled lease may be rented at once by the receive thread).
        lease.TrimArray();
        lock (_lock)
        {
            if (_count < MaxIdle)
            {
                _idle[_count++] = lease;
            }
        }
    }
}
