namespace Transport.Nats.Consuming;

// Invariants (each proven by the named test in tests/Transport.Nats.Tests/Consuming/SequenceTrackerTests.cs):
//
// Seq.Q1: Within a generation, the next relay sequence is delivered; a larger one is delivered with a gap of the
//     missing count; an equal or smaller one is a duplicate (a retried publish, a redelivery) and is discarded.
//     SequenceTrackerTests.Q1_within_a_generation_gaps_are_counted_and_duplicates_discarded
// Seq.Q2: A newer generation (a takeover) is delivered; its first sequence is checked against the last one
//     delivered (the new relay continues the feed's sequence), and one at or below it is not a gap.
//     SequenceTrackerTests.Q2_a_takeover_continues_the_sequence_and_is_checked_for_gaps
// Seq.Q3: A frame of an older generation than one already delivered comes from a fenced relay: discarded and
//     counted (it is lag, the new relay's data is the truth).
//     SequenceTrackerTests.Q3_frames_of_an_older_generation_are_discarded
// Seq.Q4: With no known position, the first frame sets it; a resumed position makes the next frame checked.
//     SequenceTrackerTests.Q4_the_first_frame_or_a_resumed_position_sets_the_baseline

/// <summary>What to do with a frame, by its relay sequence and generation.</summary>
internal enum SequenceVerdict
{
    /// <summary>Hand it to the adapter (with the gap counted, if any).</summary>
    Deliver,

    /// <summary>Already delivered (or older): discard.</summary>
    Duplicate,

    /// <summary>From a relay that lost its lease: discard, count as lag.</summary>
    StaleGeneration,
}

/// <summary>Tells gaps and duplicates from the relay's per-feed sequence. Pure, single-threaded.</summary>
internal sealed class SequenceTracker
{
    private bool _known;

    public long Generation { get; private set; }

    public long LastSequence { get; private set; }

    /// <summary>Starts from a stored position (Seq.Q4); a position without a relay sequence leaves the baseline unknown.</summary>
    public void Resume(long generation, long sequence)
    {
        if (sequence > 0)
        {
            _known = true;
            Generation = generation;
            LastSequence = sequence;
        }
    }

    public SequenceVerdict Observe(long generation, long sequence, out long gap)
    {
        gap = 0;
        if (!_known)
        {
            _known = true;
            Generation = generation;
            LastSequence = sequence;
            return SequenceVerdict.Deliver;
        }

        if (generation < Generation)
        {
            return SequenceVerdict.StaleGeneration;
        }

        if (generation == Generation && sequence <= LastSequence)
        {
            return SequenceVerdict.Duplicate;
        }

        if (sequence > LastSequence + 1)
        {
            gap = sequence - LastSequence - 1;
        }

        Generation = generation;
        LastSequence = sequence;
        return SequenceVerdict.Deliver;
    }
}
