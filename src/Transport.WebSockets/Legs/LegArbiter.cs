using Transport.WebSockets.Dedupe;

namespace Transport.WebSockets.Legs;

// Invariants (each proven by a test carrying [Trait("Invariant", "<id>")] in tests/Transport.Tests/Legs/):
//
// Legs.R1: First arrival wins: of the copies of one keyed frame offered within the dedupe window, the first
//          one offered is delivered and every later one is a duplicate, whichever leg it comes from.
// Legs.R2: Frames without a key (the selector says so, throws, or there is no selector): under PrimaryOnly
//          only the primary leg's are delivered (every other leg's are dropped and counted); while no leg is
//          up, every leg's are delivered (better a repeated reply than a lost one during recovery). Under
//          All, every leg's are delivered.
// Legs.R3: Counts: per leg, Wins + Duplicates = keyed frames offered, Unkeyed + UnkeyedDropped = unkeyed
//          frames offered; the sum of Wins over the legs equals the window's admissions.
// Legs.R4: A selector that throws never stops the leg: that frame counts as unkeyed, and the fault is
//          counted per leg (the owner logs its type once per leg).

/// <summary>What the arbiter decided for one offered frame.</summary>
internal enum LegVerdict
{
    /// <summary>A keyed frame seen first: deliver it to the merged source (this leg won).</summary>
    Won,

    /// <summary>An unkeyed frame to deliver (its leg is the primary, or the policy delivers every leg's).</summary>
    DeliveredUnkeyed,

    /// <summary>A copy of a keyed frame already delivered: drop (release) it.</summary>
    Duplicate,

    /// <summary>An unkeyed frame from a leg that is not the primary: drop (release) it.</summary>
    NotPrimary,
}

/// <summary>
/// Decides, frame by frame, what the merged source of a redundant connection delivers: keyed frames once
/// (first arrival wins, Legs.R1), unkeyed ones by policy (Legs.R2), and counts per leg. Pure: no I/O, no
/// clock, no lock (its owner serializes calls and passes timestamps).
/// </summary>
internal sealed class LegArbiter
{
    private readonly FrameKeySelector? _selector;
    private readonly UnkeyedFramePolicy _unkeyed;
    private readonly DedupeWindow? _window;
    private readonly Counters[] _legs;

    public LegArbiter(int legs, FrameKeySelector? selector, DedupeWindowOptions dedupe, UnkeyedFramePolicy unkeyed, long timestampFrequency)
    {
        _selector = selector;
        _unkeyed = unkeyed;
        _window = selector is null ? null : new DedupeWindow(dedupe, timestampFrequency);
        _legs = new Counters[legs];
        for (int i = 0; i < legs; i++)
        {
            _legs[i] = new Counters();
        }

        TimestampFrequency = timestampFrequency;
    }

    public long TimestampFrequency { get; }

    /// <summary>The dedupe window (null without a key selector).</summary>
    public DedupeWindow? Window => _window;

    /// <summary>Cumulative frames delivered.</summary>
    public long Delivered { get; private set; }

    /// <summary>Cumulative frames dropped (duplicates and unkeyed frames of non-primary legs).</summary>
    public long Dropped { get; private set; }

    /// <summary>Decides one frame from leg <paramref name="leg"/>.</summary>
    /// <param name="leg">The leg it arrived on.</param>
    /// <param name="frame">The frame (a data frame).</param>
    /// <param name="now">The owner's timestamp of this batch, used when the frame has no receive time.</param>
    /// <param name="primary">The primary leg now (-1 when none is up).</param>
    /// <returns>The verdict.</returns>
    public LegVerdict Offer(int leg, in Frame frame, long now, int primary)
    {
        var counters = _legs[leg];
        if (_window is not null && TrySelect(counters, frame, out var key))
        {
            long stamp = frame.ReceivedAt != 0 ? frame.ReceivedAt : now;
            if (_window.TryAdmit(key, stamp, out long firstSeen))
            {
                counters.Wins++;
                Delivered++;
                return LegVerdict.Won;
            }

            // Legs.R1: a copy. How far behind the delivered one it arrived (by receive times; 0 when it
            // was in fact earlier but reached the arbiter later).
            long behind = Math.Max(0, stamp - firstSeen);
            counters.Duplicates++;
            counters.BehindEwma += (behind - counters.BehindEwma) / 16;
            counters.BatchBehindSum += behind;
            counters.BatchBehindCount++;
            Dropped++;
            return LegVerdict.Duplicate;
        }

        // Legs.R2.
        if (_unkeyed == UnkeyedFramePolicy.All || primary < 0 || primary == leg)
        {
            counters.Unkeyed++;
            Delivered++;
            return LegVerdict.DeliveredUnkeyed;
        }

        counters.UnkeyedDropped++;
        Dropped++;
        return LegVerdict.NotPrimary;
    }

    /// <summary>Leg <paramref name="leg"/>'s counts now.</summary>
    public LegCounts CountsOf(int leg)
    {
        var c = _legs[leg];
        return new LegCounts(c.Wins, c.Duplicates, c.Unkeyed, c.UnkeyedDropped, c.SelectorFaults, TimeSpan.FromSeconds((double)c.BehindEwma / TimestampFrequency));
    }

    /// <summary>
    /// The mean delay (seconds) of the duplicates leg <paramref name="leg"/> offered since the last call, or
    /// null when it offered none; resets the batch accumulators (telemetry: one measurement per batch).
    /// </summary>
    public double? TakeBatchBehind(int leg)
    {
        var c = _legs[leg];
        if (c.BatchBehindCount == 0)
        {
            return null;
        }

        double mean = (double)c.BatchBehindSum / c.BatchBehindCount / TimestampFrequency;
        c.BatchBehindSum = 0;
        c.BatchBehindCount = 0;
        return mean;
    }

    /// <summary>The type of the first exception the selector threw on leg <paramref name="leg"/>, once (then null).</summary>
    public string? TakeFirstSelectorFault(int leg)
    {
        var c = _legs[leg];
        var fault = c.FirstFault;
        c.FirstFault = null;
        return fault;
    }

    // Legs.R4: the adapter's code; an exception makes this frame unkeyed.
    private bool TrySelect(Counters counters, in Frame frame, out DedupeKey key)
    {
        try
        {
            return _selector!(in frame, out key);
        }
        catch (Exception ex)
        {
            if (counters.SelectorFaults++ == 0)
            {
                counters.FirstFault = ex.GetType().Name;
            }

            key = default;
            return false;
        }
    }

    private sealed class Counters
    {
        public long Wins;
        public long Duplicates;
        public long Unkeyed;
        public long UnkeyedDropped;
        public long SelectorFaults;
        public long BehindEwma;
        public long BatchBehindSum;
        public long BatchBehindCount;
        public string? FirstFault;
    }
}

/// <summary>One leg's arbitration counts (cumulative, except <paramref name="Behind"/>, a level).</summary>
/// <param name="Wins">Keyed frames this leg delivered first.</param>
/// <param name="Duplicates">Keyed frames this leg delivered after another leg (dropped).</param>
/// <param name="Unkeyed">Unkeyed frames delivered from this leg.</param>
/// <param name="UnkeyedDropped">Unkeyed frames dropped because this leg was not the primary.</param>
/// <param name="SelectorFaults">Frames on which the key selector threw (treated as unkeyed).</param>
/// <param name="Behind">How far behind the delivered copy this leg's duplicates arrive (moving average of the last ~16).</param>
internal readonly record struct LegCounts(long Wins, long Duplicates, long Unkeyed, long UnkeyedDropped, long SelectorFaults, TimeSpan Behind);
