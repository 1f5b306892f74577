using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Transport;

// Invariants (tests in tests/Transport.Tests/Buffering/LeaseTests.cs, LeaseMagazineTests.cs and
// LeaseOwnershipPropertyTests.cs; the ownership rule they implement is docs/adr/0013):
//
// Lease.L1: A lease goes back to its pool exactly once per use, when its last holder releases it; a
//           holder releases at most once: a second Release of the same frame (or of a copy of it),
//           or of a frame of an earlier use, throws instead of handing one buffer to two messages.
//           LeaseTests.L1_double_release_throws_and_never_returns_twice
//           LeaseTests.L1_a_shared_lease_returns_once_its_last_holder_released_and_no_holder_releases_twice
// Lease.L2: In Debug builds, reading a leased frame's payload after its own Release throws
//           (ObjectDisposedException), whether other holders still hold the lease, it is idle in the
//           pool, or it was leased again; so does reading memory taken from it while it is idle.
//           LeaseTests.L2_use_after_release_is_detected_in_debug
//           LeaseTests.L2_a_holder_reading_after_its_own_release_is_detected_while_others_hold
// Lease.L3: Renting after returning reuses the lease object and its buffer: the steady state of
//           rent, copy, release allocates nothing; sharing a lease allocates nothing either.
//           LeaseTests.L3_rent_copy_release_allocates_nothing_in_steady_state
// Lease.L4: A lease released on one thread is rented again on another: a thread's full magazine
//           goes to the depot, and a renter whose magazines are empty takes it (one lock per
//           PayloadLeasePool.MagazineSize leases on each side, none in between).
//           LeaseMagazineTests.L4_leases_released_on_one_thread_are_rented_on_another
// Lease.L5: Bounds: the depot keeps at most MaxIdle leases and MaxIdleBytes bytes of arrays; each
//           thread's magazines at most 2 x MagazineSize leases and 2 x MagazineMaxBytes bytes; every
//           lease created is idle in the depot or a thread's magazines, in use, or counted as dropped.
//           LeaseMagazineTests.L5_depot_and_thread_magazines_stay_within_their_bounds
// Lease.L6: No buffer is ever live in two messages: under many threads renting, handing frames to each
//           other and releasing, every payload reads back exactly what was written into it.
//           LeaseMagazineTests.L6_no_lease_is_live_in_two_frames_under_many_threads
// Lease.L7: Rent, copy and release across two threads (the receive path's shape) allocates less than
//           8 bytes per message in steady state.
//           LeaseMagazineTests.L7_two_thread_rent_release_allocates_under_8_bytes_per_message
// Lease.L8: A thread's magazines belong to one pool: a lease always returns to the pool that created
//           it, and switching pools hands the magazines back to their own pool's depot.
//           LeaseMagazineTests.L8_a_thread_switching_pools_returns_each_lease_to_its_own_pool
// Lease.L9: Sharing (ADR 0013): a holder adds holders (Frame.ShareLease), each with its own bit; a bit is
//           never given twice in one use, so a stale copy of a released holder's frame can never
//           release a later holder's share. At most MaxHolders holders per use; past that the sharer
//           gets a copy in a lease of its own.
//           LeaseTests.L9_past_max_holders_a_share_is_a_copy_in_a_lease_of_its_own
//           LeaseOwnershipPropertyTests.Every_lease_is_released_exactly_once_and_never_read_after_release

/// <summary>
/// A pooled payload buffer behind a leased <see cref="Frame"/> (lease mode, docs/adr/0009 and 0013).
/// The frame's payload is a <see cref="Memory{T}"/> over this manager; <see cref="Frame.Release"/>
/// releases the frame's hold with the token the frame was created with, and the last hold released
/// returns the lease to its pool.
/// </summary>
/// <remarks>
/// <para>
/// Not for adapters: they see only <see cref="Frame.IsLeased"/> and <see cref="Frame.Release"/>.
/// The stack's leaves obtain leases through the payload allocator seam; the fan-out shares them.
/// </para>
/// <para>
/// State: one 64-bit word, changed only by compare-and-swap: the use's generation (27 bits), the next
/// holder bit to give (5 bits) and the mask of holders still holding (32 bits). A frame carries a
/// 32-bit token: the generation's 27 bits and its holder bit's index. Releasing an unshared frame is
/// one compare-and-swap, as it was before sharing existed.
/// </para>
/// </remarks>
internal sealed class PayloadLease : MemoryManager<byte>
{
    /// <summary>The most holders one use of a lease can have (one bit each in the holder mask).</summary>
    internal const int MaxHolders = 32;

    private const int HolderBits = 5;
    private const int GenerationShift = 37;                 // 5 bits of next holder + 32 bits of mask below it
    private const ulong GenerationMask = (1UL << 27) - 1;   // 27 bits: with the 5 holder bits, a frame's 32-bit token
    private const int NextShift = 32;

    private readonly PayloadLeasePool _pool;
    private byte[] _array;
    private int _length;

    // Generation | next holder | holder mask (see the remarks). Changed by compare-and-swap only.
    private ulong _state;

#if DEBUG
    // True while the lease sits in the pool (Debug checks read it, Lease.L2; a Release build has
    // neither the field nor its two writes per message).
    private volatile bool _idle;
#endif

    internal PayloadLease(PayloadLeasePool pool)
    {
        _pool = pool;
        _array = [];
#if DEBUG
        _idle = true;
#endif
    }

    /// <summary>The pool this lease returns to.</summary>
    internal PayloadLeasePool Pool => _pool;

    /// <summary>The bytes this lease keeps between uses (its array's length; 0 after the pool trimmed it).</summary>
    internal int Capacity => _array.Length;

    /// <summary>The token of this use's first holder (holder 0): what a frame created now must carry.</summary>
    public int Token => (int)((uint)(Volatile.Read(ref _state) >> GenerationShift) << HolderBits);

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

        // Idle: (generation, 0, 0). Rented: holder 0 holds, the next holder gets bit 1. Nobody else can
        // see an idle lease, so a plain write (published with the frame by whoever hands it on).
        ulong idle = Volatile.Read(ref _state);
        Debug.Assert((uint)idle == 0, "a rented lease must have no holder");
        Volatile.Write(ref _state, (idle & ~((1UL << GenerationShift) - 1)) | (1UL << NextShift) | 1UL);
#if DEBUG
        _idle = false;
#endif
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

    /// <inheritdoc />
    /// <remarks>Built from the rented length directly (the base class asks <see cref="GetSpan"/> for it).</remarks>
    public override Memory<byte> Memory => CreateMemory(_length);

    /// <summary>The writable payload, exactly the rented length.</summary>
    public Span<byte> Writable => _array.AsSpan(0, _length);

    /// <summary>
    /// Releases the hold of the frame carrying <paramref name="token"/>; the last hold released returns
    /// the lease to its pool (Lease.L1).
    /// </summary>
    /// <param name="token">The token the frame carries.</param>
    /// <exception cref="InvalidOperationException">That frame's hold was already released.</exception>
    public void Return(int token)
    {
        ulong generation = (uint)token >> HolderBits;
        ulong idle = ((generation + 1) & GenerationMask) << GenerationShift;

        // The common case first, without reading the state: the first holder of a use never shared
        // (next holder 1, mask 1). One compare-and-swap, as before sharing existed.
        ulong unshared = (generation << GenerationShift) | (1UL << NextShift) | 1UL;
        if ((token & (MaxHolders - 1)) == 0 && Interlocked.CompareExchange(ref _state, idle, unshared) == unshared)
        {
            Returned();
            return;
        }

        ulong bit = 1UL << (token & (MaxHolders - 1));
        ulong seen = Volatile.Read(ref _state);
        while (true)
        {
            if ((seen >> GenerationShift) != generation || (seen & bit) == 0)
            {
#if DEBUG
                _pool.Tracker?.OnDoubleRelease();
#endif
                throw new InvalidOperationException("This leased frame was already released: a leased payload must be released exactly once by each holder (docs/adr/0013).");
            }

            // The last holder: the next generation, idle (no holder, no next bit). Else: one bit less.
            ulong next = (seen & 0xFFFF_FFFFUL) == bit ? idle : seen & ~bit;
            ulong prior = Interlocked.CompareExchange(ref _state, next, seen);
            if (prior == seen)
            {
                if (next != idle)
                {
#if DEBUG
                    _pool.Tracker?.OnRelease(last: false);
#endif
                    return;
                }

                Returned();
                return;
            }

            seen = prior;
        }
    }

    // The last hold was released: the lease is idle and goes back to its pool.
    private void Returned()
    {
        _length = 0;
#if DEBUG
        _idle = true;
        if (_pool.Tracker is { } tracker)
        {
            tracker.OnRelease(last: true);
            if (tracker.Quarantine)
            {
                return; // never reused: a later read through memory taken from it throws (Lease.L2)
            }
        }
#endif
        _pool.Return(this);
    }

    /// <summary>
    /// Adds a holder to the use the frame carrying <paramref name="token"/> holds (Lease.L9): returns
    /// the new holder's token, or -1 when this use already had <see cref="MaxHolders"/> holders.
    /// </summary>
    /// <param name="token">The sharer's token; the sharer keeps its own hold.</param>
    /// <exception cref="InvalidOperationException">The sharer's hold was already released.</exception>
    public int AddHolder(int token)
    {
        ulong own = 1UL << (token & (MaxHolders - 1));
        ulong generation = (uint)token >> HolderBits;
        ulong seen = Volatile.Read(ref _state);
        while (true)
        {
            if ((seen >> GenerationShift) != generation || (seen & own) == 0)
            {
#if DEBUG
                _pool.Tracker?.OnUseAfterRelease();
#endif
                throw new InvalidOperationException("This leased frame was shared after its Release (docs/adr/0013).");
            }

            // Bits are given in order and never twice in one use, so a stale frame of a holder that
            // released cannot release (or read as) a later holder. 0 here means all 32 were given.
            int holder = (int)((seen >> NextShift) & (MaxHolders - 1));
            if (holder == 0)
            {
                return -1;
            }

            ulong next = (seen & ~(((ulong)MaxHolders - 1) << NextShift))
                | ((ulong)((holder + 1) & (MaxHolders - 1)) << NextShift)
                | (1UL << holder);
            ulong prior = Interlocked.CompareExchange(ref _state, next, seen);
            if (prior == seen)
            {
#if DEBUG
                _pool.Tracker?.OnShare();
#endif
                return (int)((uint)generation << HolderBits) | holder;
            }

            seen = prior;
        }
    }

    /// <summary>Debug check (Lease.L2): throws when a frame whose hold was released reads the payload.</summary>
    /// <param name="token">The token the frame carries.</param>
    [Conditional("DEBUG")]
    public void AssertLive(int token)
    {
#if DEBUG
        ulong state = Volatile.Read(ref _state);
        if (_idle || (state >> GenerationShift) != ((uint)token >> HolderBits) || (state & (1UL << (token & (MaxHolders - 1)))) == 0)
        {
            _pool.Tracker?.OnUseAfterRelease();
            throw new ObjectDisposedException(nameof(Frame), "This leased frame's payload was read after Release (docs/adr/0009, 0013).");
        }
#endif
    }

    /// <summary>True while the frame carrying <paramref name="token"/> still holds this lease. For tests.</summary>
    /// <param name="token">The token the frame carries.</param>
    internal bool IsHeldBy(int token)
    {
        ulong state = Volatile.Read(ref _state);
        return (state >> GenerationShift) == ((uint)token >> HolderBits) && (state & (1UL << (token & (MaxHolders - 1)))) != 0;
    }

    /// <inheritdoc />
    public override Span<byte> GetSpan()
    {
#if DEBUG
        if (_idle)
        {
            _pool.Tracker?.OnUseAfterRelease();
            throw new ObjectDisposedException(nameof(Frame), "This leased frame's payload was read after Release (docs/adr/0009, 0013).");
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
/// The pool behind lease mode: idle <see cref="PayloadLease"/> objects, each keeping its array, so
/// the steady state allocates nothing (Lease.L3), in per-thread magazines over one shared depot.
/// </summary>
/// <remarks>
/// <para>
/// Why per-thread magazines (Bonwick and Adams, "Magazines and Vmem", USENIX 2001): in lease mode the
/// receive loop rents on one thread and the consumer returns on another, 2-3 million times a
/// second at 100 B. A single stack under one lock took that lock twice per message from two cores
/// (measured, LeasePoolBenchmarks.TwoThreads: 489 ns per leased message against 141 ns for owned
/// arrays; the receive scenario: 1,500-1,800 ns of CPU per leased 100 B message against 470-710
/// owned; with magazines: 133 ns against 98). Here each thread rents from and returns to its own two magazines of
/// <see cref="MagazineSize"/> leases without a lock or an interlocked operation; only a whole
/// magazine moves between a thread and the shared depot, under the lock, so the lock is taken once
/// per <see cref="MagazineSize"/> messages on each side.
/// </para>
/// <para>
/// Why not a library type: <see cref="ArrayPool{T}.Shared"/> alone was the first version of lease
/// mode, and its per-core stacks hold too few arrays for a batch in flight (157 B allocated per
/// 100 B message, docs/adr/0009 3.4; see <see cref="PayloadLease.Reset"/>); it also has no lease
/// objects or generations. <c>ConcurrentQueue</c> costs an interlocked operation on a shared cache
/// line per rent and per return, and <c>ConcurrentBag</c>, whose lists are per thread, makes every
/// rent of a pure producer a steal of one item from the consumer's list.
/// </para>
/// <para>
/// Bounds. The depot keeps at most <see cref="MaxIdle"/> idle leases holding at most
/// <see cref="MaxIdleBytes"/> bytes of arrays between them (Lease.L5); a magazine handed back beyond
/// the bytes bound keeps its leases without their arrays (given back to
/// <see cref="ArrayPool{T}.Shared"/>), beyond the count bound its leases are left to the GC (their
/// arrays given back first). Each thread that has used the pool additionally holds at most two
/// magazines: <c>2 x </c><see cref="MagazineSize"/> leases and <c>2 x </c><see cref="MagazineMaxBytes"/>
/// bytes of arrays (a lease returned to a magazine over its bytes budget is kept without its array).
/// Those are outside the depot's bounds; a thread that ends takes its magazines' leases with it (the
/// GC reclaims them, as for a frame never released).
/// </para>
/// <para>
/// A thread's magazines belong to one pool at a time: using another pool (tests create pools) hands
/// them back to their pool's depot first, so a lease only ever returns to the pool that created it.
/// Nothing here runs foreign code under the lock, and array trimming happens outside it.
/// </para>
/// </remarks>
internal sealed class PayloadLeasePool
{
    /// <summary>The pool every leased frame of this process comes from.</summary>
    public static readonly PayloadLeasePool Shared = new();

    /// <summary>The most idle leases the depot keeps.</summary>
    /// <remarks>
    /// 65,536 since issue 14's round 4 (4,096 before): in the receive scenario the consumer falls
    /// behind the receive loop by more than 4,096 frames, so each 1,000,000 x 100 B run created (an
    /// object and an array) and later dropped 3,000-380,000 leases, and lease mode allocated 9-60 B
    /// per message. At 65,536 the same runs allocate 3.5-5 B per message. Small messages now reach the
    /// bytes bound before the count bound (65,536 x 128 B arrays = 8 MiB); the lease objects
    /// themselves add at most about 3 MiB.
    /// </remarks>
    internal const int MaxIdle = 65_536;

    /// <summary>The most bytes of arrays the depot's idle leases keep.</summary>
    internal const long MaxIdleBytes = 16L * 1024 * 1024;

    /// <summary>Leases per magazine: the lock is taken once per this many rents (or returns) on a thread.</summary>
    internal const int MagazineSize = 64;

    /// <summary>The most bytes of arrays the leases of one magazine keep.</summary>
    internal const long MagazineMaxBytes = 1024 * 1024;

    // Depot slots: MaxIdle leases in full magazines (a partial one, from a thread switching pools, uses a slot too).
    private const int DepotSlots = MaxIdle / MagazineSize;

    // The calling thread's magazines, for the pool they belong to (at most one pool per thread).
    [ThreadStatic]
    private static ThreadCache? t_cache;

    private readonly Lock _lock = new();
    private readonly Magazine?[] _full = new Magazine?[DepotSlots];  // guarded by _lock: magazines of idle leases
    private readonly Magazine?[] _empty = new Magazine?[DepotSlots]; // guarded by _lock: spare empty magazines
    private int _fullCount;   // guarded by _lock
    private int _emptyCount;  // guarded by _lock
    private int _idleCount;   // guarded by _lock: leases in _full (Lease.L5: <= MaxIdle)
    private long _idleBytes;  // guarded by _lock: the arrays they keep (Lease.L5: <= MaxIdleBytes)
    private long _created;    // Interlocked: leases this pool ever created
    private long _dropped;    // Interlocked: leases let go to the GC over the count bound

    /// <summary>Leases out a buffer of exactly <paramref name="length"/> payload bytes.</summary>
    /// <param name="length">The payload length.</param>
    /// <returns>A lease whose <see cref="PayloadLease.Writable"/> is <paramref name="length"/> bytes.</returns>
    public PayloadLease Rent(int length)
    {
        ThreadCache cache = CacheOfThisThread();
        Magazine loaded = cache.Loaded;
        if (loaded.Count == 0)
        {
            loaded = Refill(cache);
        }

        PayloadLease lease;
        if (loaded.Count > 0)
        {
            lease = loaded.Pop();
        }
        else
        {
            lease = new PayloadLease(this);
            Interlocked.Increment(ref _created);
        }

        lease.Reset(length);
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

    /// <summary>Takes back a lease whose generation was just bumped (called by <see cref="PayloadLease.Return"/> only).</summary>
    /// <param name="lease">A lease of this pool, idle now.</param>
    internal void Return(PayloadLease lease)
    {
        ThreadCache cache = CacheOfThisThread();
        Magazine loaded = cache.Loaded;
        if (loaded.Count == MagazineSize)
        {
            loaded = Spill(cache);
        }

        if (loaded.Bytes + lease.Capacity > MagazineMaxBytes)
        {
            lease.TrimArray(); // the magazine's bytes budget: keep the lease, not its array
        }

        loaded.Push(lease);
    }

    /// <summary>Leases in the depot (not in any thread's magazines). For tests.</summary>
    internal int IdleCount
    {
        get
        {
            lock (_lock)
            {
                return _idleCount;
            }
        }
    }

    /// <summary>Bytes of arrays the depot's leases keep. For tests.</summary>
    internal long IdleBytes
    {
        get
        {
            lock (_lock)
            {
                return _idleBytes;
            }
        }
    }

    /// <summary>Leases this pool has created. For tests.</summary>
    internal long Created => Interlocked.Read(ref _created);

    /// <summary>Leases let go to the GC because the depot was full. For tests.</summary>
    internal long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>The leases (and bytes of arrays) the calling thread's magazines hold for this pool. For tests.</summary>
    internal (int Count, long Bytes) CachedOnThisThread =>
        t_cache is { } cache && cache.Pool == this
            ? (cache.Loaded.Count + cache.Previous.Count, cache.Loaded.Bytes + cache.Previous.Bytes)
            : (0, 0);

    /// <summary>Hands the calling thread's magazines for this pool back to the depot. For tests.</summary>
    internal void FlushThisThread()
    {
        if (t_cache is { } cache && cache.Pool == this)
        {
            t_cache = null;
            Deposit(cache.Loaded);
            Deposit(cache.Previous);
        }
    }

    private ThreadCache CacheOfThisThread()
    {
        ThreadCache? cache = t_cache;
        return cache is not null && cache.Pool == this ? cache : Bind();
    }

    // The thread's first use of this pool, or a switch from another pool: that pool gets its leases back.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ThreadCache Bind()
    {
        if (t_cache is { } previous)
        {
            t_cache = null;
            previous.Pool.Deposit(previous.Loaded);
            previous.Pool.Deposit(previous.Previous);
        }

        var cache = new ThreadCache(this);
        t_cache = cache;
        return cache;
    }

    // The loaded magazine is empty: use the other one if it has leases, else swap the empty one for a
    // magazine of the depot (one lock). Returns the loaded magazine, still empty when the depot was.
    private Magazine Refill(ThreadCache cache)
    {
        if (cache.Previous.Count > 0)
        {
            (cache.Loaded, cache.Previous) = (cache.Previous, cache.Loaded);
            return cache.Loaded;
        }

        // Unlocked peek: a renter running ahead of every returner allocates without taking the lock per
        // rent; a magazine deposited just after this read is found by the next rent.
        if (Volatile.Read(ref _fullCount) == 0)
        {
            return cache.Loaded;
        }

        lock (_lock)
        {
            if (_fullCount == 0)
            {
                return cache.Loaded;
            }

            Magazine full = _full[--_fullCount]!;
            _full[_fullCount] = null;
            _idleCount -= full.Count;
            _idleBytes -= full.Bytes;
            if (_emptyCount < DepotSlots)
            {
                _empty[_emptyCount++] = cache.Loaded;
            }

            cache.Loaded = full;
            return full;
        }
    }

    // The loaded magazine is full: swap it with the other one if that is empty, else hand it to the
    // depot for an empty one (one lock). Returns the loaded magazine, now with room.
    private Magazine Spill(ThreadCache cache)
    {
        if (cache.Previous.Count == 0)
        {
            (cache.Loaded, cache.Previous) = (cache.Previous, cache.Loaded);
            return cache.Loaded;
        }

        Magazine full = cache.Loaded;
        Magazine? empty = null;
        bool kept;
        lock (_lock)
        {
            kept = TryDepositLocked(full);
            if (_emptyCount > 0)
            {
                empty = _empty[--_emptyCount];
                _empty[_emptyCount] = null;
            }
        }

        if (!kept && !DepositTrimmed(full))
        {
            empty ??= full; // its leases went to the GC: the magazine itself is reusable
        }

        cache.Loaded = empty ?? new Magazine();
        return cache.Loaded;
    }

    // A thread's magazine (maybe partial) into the depot, within the bounds; the magazine is the depot's after.
    private void Deposit(Magazine magazine)
    {
        if (magazine.Count == 0)
        {
            return;
        }

        bool kept;
        lock (_lock)
        {
            kept = TryDepositLocked(magazine);
        }

        if (!kept)
        {
            DepositTrimmed(magazine);
        }
    }

    // Over a bound: give the arrays back (outside the lock), then keep the leases if the count allows,
    // else let them go. Returns true when the depot took the magazine.
    private bool DepositTrimmed(Magazine magazine)
    {
        magazine.TrimArrays();
        lock (_lock)
        {
            if (TryDepositLocked(magazine))
            {
                return true;
            }
        }

        Interlocked.Add(ref _dropped, magazine.Count);
        magazine.Clear();
        return false;
    }

    private bool TryDepositLocked(Magazine magazine)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        if (_fullCount == DepotSlots || _idleCount + magazine.Count > MaxIdle || _idleBytes + magazine.Bytes > MaxIdleBytes)
        {
            return false;
        }

        _full[_fullCount++] = magazine;
        _idleCount += magazine.Count;
        _idleBytes += magazine.Bytes;
        return true;
    }

    /// <summary>One thread's two magazines for one pool (Bonwick's "loaded" and "previous").</summary>
    private sealed class ThreadCache(PayloadLeasePool pool)
    {
        public PayloadLeasePool Pool { get; } = pool;

        public Magazine Loaded { get; set; } = new();

        public Magazine Previous { get; set; } = new();
    }

    /// <summary>A stack of up to <see cref="MagazineSize"/> idle leases; owned by one thread or by the depot (under its lock).</summary>
    private sealed class Magazine
    {
        private readonly PayloadLease?[] _leases = new PayloadLease?[MagazineSize];

        public int Count { get; private set; }

        /// <summary>The bytes of arrays its leases keep.</summary>
        public long Bytes { get; private set; }

        public PayloadLease Pop()
        {
            PayloadLease lease = _leases[--Count]!;
            _leases[Count] = null;
            Bytes -= lease.Capacity;
            return lease;
        }

        public void Push(PayloadLease lease)
        {
            Debug.Assert(Count < MagazineSize);
            _leases[Count++] = lease;
            Bytes += lease.Capacity;
        }

        public void TrimArrays()
        {
            for (int i = 0; i < Count; i++)
            {
                _leases[i]!.TrimArray();
            }

            Bytes = 0;
        }

        public void Clear()
        {
            Array.Clear(_leases, 0, Count);
            Count = 0;
            Bytes = 0;
        }
    }
}

#if DEBUG
/// <summary>
/// Debug builds only: the instrumentation of one <see cref="PayloadLeasePool"/> for tests (docs/adr/0013):
/// how many leases were rented, shared, released and returned, and every double release or use after
/// release, recorded even when the exception it raises is caught somewhere.
/// </summary>
/// <remarks>
/// With <see cref="Quarantine"/>, a lease whose last holder released it is never rented again: it stays
/// idle, so any later read through memory taken from it throws, instead of reading the next message.
/// </remarks>
internal sealed class LeaseTracker
{
    private long _rented;
    private long _shared;
    private long _released;
    private long _returned;
    private long _doubleReleases;
    private long _usesAfterRelease;

    /// <summary>Keep released leases out of the pool (every use after release is caught, Lease.L2).</summary>
    public bool Quarantine { get; init; }

    /// <summary>Leases rented (each with one holder).</summary>
    public long Rented => Interlocked.Read(ref _rented);

    /// <summary>Holders added to rented leases (Lease.L9).</summary>
    public long Shared => Interlocked.Read(ref _shared);

    /// <summary>Holds released (every holder's Release, the last one included).</summary>
    public long Released => Interlocked.Read(ref _released);

    /// <summary>Leases whose last holder released them (returned to the pool, or quarantined).</summary>
    public long Returned => Interlocked.Read(ref _returned);

    /// <summary>Releases refused because that hold was already released.</summary>
    public long DoubleReleases => Interlocked.Read(ref _doubleReleases);

    /// <summary>Reads (or shares) of a hold already released.</summary>
    public long UsesAfterRelease => Interlocked.Read(ref _usesAfterRelease);

    /// <summary>Holds not released yet: <c>Rented + Shared - Released</c>.</summary>
    public long Outstanding => Rented + Shared - Released;

    /// <summary>One line for assertion messages.</summary>
    public override string ToString() =>
        $"rented={Rented} shared={Shared} released={Released} returned={Returned} double-releases={DoubleReleases} uses-after-release={UsesAfterRelease}";

    internal void OnRent() => Interlocked.Increment(ref _rented);

    internal void OnShare() => Interlocked.Increment(ref _shared);

    internal void OnRelease(bool last)
    {
        Interlocked.Increment(ref _released);
        if (last)
        {
            Interlocked.Increment(ref _returned);
        }
    }

    internal void OnDoubleRelease() => Interlocked.Increment(ref _doubleReleases);

    internal void OnUseAfterRelease() => Interlocked.Increment(ref _usesAfterRelease);
}
#endif
