using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Transport;

// Invariants (tests in tests/Transport.Tests/Buffering/LeaseTests.cs and
// LeaseOwnershipPropertyTests.cs; the ownership rule they implement is docs/adr/0013):
//
// Lease.L1: A lease goes back to its slab exactly once per use, when its last holder releases it; a
//           holder releases at most once: a second Release of the same frame (or of a copy of it),
//           or of a frame of an earlier use, throws instead of handing one buffer to two messages.
//           LeaseTests.L1_double_release_throws_and_never_returns_twice
//           LeaseTests.L1_a_shared_lease_returns_once_its_last_holder_released_and_no_holder_releases_twice
// Lease.L2: In Debug builds, reading a leased frame's payload after its own Release throws
//           (ObjectDisposedException), whether other holders still hold the lease, it is idle in the
//           pool, or it was leased again; so does reading memory taken from it while it is idle.
//           LeaseTests.L2_use_after_release_is_detected_in_debug
//           LeaseTests.L2_a_holder_reading_after_its_own_release_is_detected_while_others_hold
// Lease.L3 to Lease.L8 and Lease.L10 are the pool's (PayloadLeasePool.cs).
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
/// returns the lease to its slab (which goes back to the pool once all its messages are released,
/// docs/adr/0022).
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

    private readonly LeaseSlab _slab;
    private byte[] _array;   // the slab's buffer while rented (a copy of the reference: reading it never touches the slab)
    private int _offset;
    private int _length;

    // Generation | next holder | holder mask (see the remarks). Changed by compare-and-swap only.
    private ulong _state;

#if DEBUG
    // True while the lease sits in the pool (Debug checks read it, Lease.L2; a Release build has
    // neither the field nor its two writes per message).
    private volatile bool _idle;
#endif

    internal PayloadLease(LeaseSlab slab)
    {
        _slab = slab;
        _array = [];
#if DEBUG
        _idle = true;
#endif
    }

    /// <summary>The pool this lease returns to (with its slab).</summary>
    internal PayloadLeasePool Pool => _slab.Pool;

    /// <summary>The slab whose buffer holds this lease's payload.</summary>
    internal LeaseSlab Slab => _slab;

    /// <summary>The token of this use's first holder (holder 0): what a frame created now must carry.</summary>
    public int Token => (int)((uint)(Volatile.Read(ref _state) >> GenerationShift) << HolderBits);

    /// <summary>
    /// Prepares the lease for a payload of <paramref name="length"/> bytes at <paramref name="offset"/>
    /// in <paramref name="array"/>, its slab's buffer (called by the pool on rent).
    /// </summary>
    internal void Reset(byte[] array, int offset, int length)
    {
        _array = array;
        _offset = offset;
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

    /// <inheritdoc />
    /// <remarks>Built from the rented length directly (the base class asks <see cref="GetSpan"/> for it).</remarks>
    public override Memory<byte> Memory => CreateMemory(_length);

    /// <summary>The writable payload, exactly the rented length.</summary>
    public Span<byte> Writable => _array.AsSpan(_offset, _length);

    /// <summary>
    /// Releases the hold of the frame carrying <paramref name="token"/>; the last hold released returns
    /// the lease to its slab (Lease.L1).
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
                _slab.Pool.Tracker?.OnDoubleRelease();
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
                    _slab.Pool.Tracker?.OnRelease(last: false);
#endif
                    return;
                }

                Returned();
                return;
            }

            seen = prior;
        }
    }

    // The last hold was released: the lease is idle, and its slab has one live message less (the
    // slab goes back to its pool once every message in it is released and it is sealed).
    private void Returned()
    {
#if DEBUG
        _idle = true;
        _slab.Pool.Tracker?.OnRelease(last: true);
#endif
        _slab.MessageReleased();
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
                _slab.Pool.Tracker?.OnUseAfterRelease();
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
                _slab.Pool.Tracker?.OnShare();
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
            _slab.Pool.Tracker?.OnUseAfterRelease();
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
            _slab.Pool.Tracker?.OnUseAfterRelease();
            throw new ObjectDisposedException(nameof(Frame), "This leased frame's payload was read after Release (docs/adr/0009, 0013).");
        }
#endif
        return _array.AsSpan(_offset, _length);
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
