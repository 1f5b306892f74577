using System.Diagnostics;

namespace Transport.WebSockets.Dedupe;

// Invariants (each proven by a test carrying [Trait("Invariant", "<id>")] in tests/Transport.Tests/Dedupe/):
//
// Dedupe.D1: A key is admitted (TryAdmit true) the first time it is offered while it is not in the window;
//            every later offer while it is still in the window is a duplicate (false).
// Dedupe.D2: Age bound: an admitted key stays while (newest stamp - its stamp) <= MaxAge. A copy offered
//            exactly MaxAge after the first is still a duplicate; one offered later is admitted again,
//            and the old entry is counted in EvictedByAge.
// Dedupe.D3: Count bound: the window never holds more than MaxKeys keys; admitting one more evicts the
//            oldest first (counted in EvictedByCount).
// Dedupe.D4: Eviction order is admission order (oldest first) for both bounds. Stamps never decrease: a
//            timestamp earlier than the newest one seen is taken as the newest, so admission order is
//            age order and the oldest key is always the first to go.
// Dedupe.D5: A key offered again after its eviction is admitted as new, with a new stamp.
// Dedupe.D6: A duplicate does not refresh its key: age runs from the first arrival.
// Dedupe.D7: TryAdmit allocates nothing once the window has grown to hold MaxKeys keys (steady state);
//            each call costs O(1) amortized (a hash probe plus the evictions it pays for).
// Dedupe.D8: Counts: Admitted + Duplicates == offers; Count == Admitted - EvictedByAge - EvictedByCount
//            (minus keys dropped by Clear).

/// <summary>
/// The keys of recently admitted frames, bounded by count and by age: <see cref="TryAdmit(DedupeKey, long)"/>
/// says whether a key is new (deliver the frame) or a copy of one admitted earlier (drop it). Pure: no
/// I/O, no clock; the caller passes timestamps from its <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// <para>
/// Layout: a FIFO ring of (key, stamp) in admission order, oldest at the head, and an open-addressing
/// index (linear probing, backward-shift deletion, load at most 1/2) from key to ring slot. Admission
/// appends at the tail; eviction removes the head from both. The arrays grow by doubling up to
/// <see cref="DedupeWindowOptions.MaxKeys"/> and never shrink, so the steady state allocates nothing
/// (Dedupe.D7).
/// </para>
/// <para>Not thread-safe: one owner calls it (the arbiter, under its lock).</para>
/// </remarks>
internal sealed class DedupeWindow
{
    private const int InitialSlots = 1_024;

    private readonly int _maxKeys;
    private readonly long _maxAge;

    // The FIFO ring: slots [_head, _head + _count) (mod capacity) hold admitted keys, oldest first.
    private DedupeKey[] _keys;
    private long[] _stamps;
    private int _head;
    private int _count;

    // The index: 0 is empty, otherwise ring slot + 1. Length is a power of two >= 2 x ring capacity.
    private int[] _index;
    private int _mask;

    // The newest stamp admitted or offered (Dedupe.D4); long.MinValue before the first offer.
    private long _newest = long.MinValue;

    /// <summary>Creates an empty window.</summary>
    /// <param name="options">The bounds (validated by the caller).</param>
    /// <param name="timestampFrequency">Ticks per second of the timestamps passed in (<see cref="TimeProvider.TimestampFrequency"/>).</param>
    public DedupeWindow(DedupeWindowOptions options, long timestampFrequency)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(nameof(DedupeWindow));
        ArgumentOutOfRangeException.ThrowIfLessThan(timestampFrequency, 1L);
        _maxKeys = options.MaxKeys;

        // Exact when the frequency is a multiple of TimeSpan ticks (the manual clocks, Stopwatch on Linux).
        _maxAge = (long)((Int128)options.MaxAge.Ticks * timestampFrequency / TimeSpan.TicksPerSecond);
        MaxAge = options.MaxAge;

        int slots = Math.Min(_maxKeys, InitialSlots);
        _keys = new DedupeKey[slots];
        _stamps = new long[slots];
        _index = new int[IndexLength(slots)];
        _mask = _index.Length - 1;
    }

    /// <summary>The count bound.</summary>
    public int MaxKeys => _maxKeys;

    /// <summary>The age bound.</summary>
    public TimeSpan MaxAge { get; }

    /// <summary>Keys held now.</summary>
    public int Count => _count;

    /// <summary>Cumulative keys admitted (offers that returned true).</summary>
    public long Admitted { get; private set; }

    /// <summary>Cumulative duplicates (offers that returned false).</summary>
    public long Duplicates { get; private set; }

    /// <summary>Cumulative keys evicted because they outlived <see cref="MaxAge"/>.</summary>
    public long EvictedByAge { get; private set; }

    /// <summary>
    /// Cumulative keys evicted by the count bound before their age ran out: a copy of one of these
    /// arriving later would be delivered again. Growing steadily, it says <see cref="MaxKeys"/> is too
    /// small for the message rate times the skew between sockets.
    /// </summary>
    public long EvictedByCount { get; private set; }

    /// <summary>Offers <paramref name="key"/>, first evicting the keys that outlived the age bound.</summary>
    /// <param name="key">The frame's key.</param>
    /// <param name="timestamp">When it arrived (a <see cref="TimeProvider.GetTimestamp"/> value of the caller's clock).</param>
    /// <returns>True the first time the key is seen within the window (deliver); false for a copy (drop).</returns>
    public bool TryAdmit(DedupeKey key, long timestamp) => TryAdmit(key, timestamp, out _);

    /// <summary>As <see cref="TryAdmit(DedupeKey, long)"/>, also giving when the key was first admitted.</summary>
    /// <param name="key">The frame's key.</param>
    /// <param name="timestamp">When it arrived.</param>
    /// <param name="firstSeen">The stamp of the key's first admission (this call's stamp when admitted now).</param>
    /// <returns>True when admitted now; false for a duplicate.</returns>
    public bool TryAdmit(DedupeKey key, long timestamp, out long firstSeen)
    {
        // Dedupe.D4: stamps never decrease, so the ring's head is always the oldest.
        long stamp = Math.Max(timestamp, _newest);
        _newest = stamp;

        // Dedupe.D2: entries strictly older than MaxAge go first; one exactly MaxAge old stays.
        while (_count > 0 && stamp - _stamps[_head] > _maxAge)
        {
            EvictOldest();
            EvictedByAge++;
        }

        int at = Find(key);
        if (at >= 0)
        {
            // Dedupe.D1, D6: a copy; the first stamp stays.
            firstSeen = _stamps[_index[at] - 1];
            Duplicates++;
            return false;
        }

        if (_count == _maxKeys)
        {
            // Dedupe.D3: full: the oldest makes room.
            EvictOldest();
            EvictedByCount++;
        }
        else if (_count == _keys.Length)
        {
            Grow();
        }

        int slot = (_head + _count) % _keys.Length;
        _keys[slot] = key;
        _stamps[slot] = stamp;
        _count++;
        Insert(key, slot);
        Admitted++;
        firstSeen = stamp;
        return true;
    }

    /// <summary>True when <paramref name="key"/> is in the window now (no eviction, no counting).</summary>
    /// <param name="key">The key.</param>
    /// <returns>Whether an offer now (at the newest stamp) would be a duplicate.</returns>
    public bool Contains(DedupeKey key) => Find(key) >= 0;

    /// <summary>Forgets every key (the counters stay cumulative; nothing is counted as evicted).</summary>
    public void Clear()
    {
        Array.Clear(_keys);
        Array.Clear(_stamps);
        Array.Clear(_index);
        _head = 0;
        _count = 0;
    }

    // The index slot holding key, or -1.
    private int Find(DedupeKey key)
    {
        int i = Home(key) & _mask;
        while (true)
        {
            int entry = _index[i];
            if (entry == 0)
            {
                return -1;
            }

            if (_keys[entry - 1] == key)
            {
                return i;
            }

            i = (i + 1) & _mask;
        }
    }

    private void Insert(DedupeKey key, int slot)
    {
        int i = Home(key) & _mask;
        while (_index[i] != 0)
        {
            i = (i + 1) & _mask;
        }

        _index[i] = slot + 1;
    }

    private void EvictOldest()
    {
        Debug.Assert(_count > 0);
        int at = Find(_keys[_head]);
        Debug.Assert(at >= 0, "every key in the ring is indexed");
        Delete(at);
        _keys[_head] = default;
        _stamps[_head] = 0;
        _head = (_head + 1) % _keys.Length;
        _count--;
    }

    // Backward-shift deletion (Knuth 6.4, algorithm R): no tombstones, so probes stay short forever.
    private void Delete(int hole)
    {
        int j = hole;
        while (true)
        {
            j = (j + 1) & _mask;
            int entry = _index[j];
            if (entry == 0)
            {
                _index[hole] = 0;
                return;
            }

            int home = Home(_keys[entry - 1]) & _mask;

            // The entry at j may move into the hole only if its home is not cyclically within (hole, j].
            bool stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
            if (!stays)
            {
                _index[hole] = entry;
                hole = j;
            }
        }
    }

    // Doubles the ring (up to MaxKeys), copying it in admission order, and rebuilds the index.
    private void Grow()
    {
        int slots = (int)Math.Min(_maxKeys, (long)_keys.Length * 2);
        var keys = new DedupeKey[slots];
        var stamps = new long[slots];
        for (int i = 0; i < _count; i++)
        {
            int from = (_head + i) % _keys.Length;
            keys[i] = _keys[from];
            stamps[i] = _stamps[from];
        }

        _keys = keys;
        _stamps = stamps;
        _head = 0;
        _index = new int[IndexLength(slots)];
        _mask = _index.Length - 1;
        for (int i = 0; i < _count; i++)
        {
            Insert(_keys[i], i);
        }
    }

    private static int IndexLength(int slots) => (int)Math.Max(16, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)slots * 2));

    // Stream is already a hash; the sequence is usually consecutive: spread it, then mix both (a
    // 64-bit finalizer), so consecutive sequences of one stream land far apart.
    private static int Home(DedupeKey key)
    {
        ulong h = key.Stream ^ ((ulong)key.Sequence * 0x9E3779B97F4A7C15UL);
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDUL;
        h ^= h >> 33;
        return (int)h;
    }
}
