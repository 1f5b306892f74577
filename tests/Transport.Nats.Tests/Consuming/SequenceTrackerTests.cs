using Transport.Nats.Consuming;

namespace Transport.Nats.Tests.Consuming;

public sealed class SequenceTrackerTests
{
    [Theory]
    [Trait("Invariant", "Seq.Q1")]
    [InlineData(11, true, 0)]
    [InlineData(14, true, 3)]
    [InlineData(10, false, 0)]
    [InlineData(3, false, 0)]
    public void Q1_within_a_generation_gaps_are_counted_and_duplicates_discarded(long next, bool deliver, long gap)
    {
        var verdict = deliver ? SequenceVerdict.Deliver : SequenceVerdict.Duplicate;
        var tracker = new SequenceTracker();
        tracker.Observe(2, 10, out _);
        Assert.Equal(verdict, tracker.Observe(2, next, out long seen));
        Assert.Equal(gap, seen);
        Assert.Equal(Math.Max(10, next), tracker.LastSequence);
    }

    [Theory]
    [Trait("Invariant", "Seq.Q2")]
    [InlineData(11, 0)]
    [InlineData(15, 4)]
    [InlineData(9, 0)]
    public void Q2_a_takeover_continues_the_sequence_and_is_checked_for_gaps(long first, long gap)
    {
        var tracker = new SequenceTracker();
        tracker.Observe(1, 10, out _);
        Assert.Equal(SequenceVerdict.Deliver, tracker.Observe(2, first, out long seen));
        Assert.Equal(gap, seen);
        Assert.Equal(2, tracker.Generation);
        Assert.Equal(first, tracker.LastSequence);
    }

    [Fact]
    [Trait("Invariant", "Seq.Q3")]
    public void Q3_frames_of_an_older_generation_are_discarded()
    {
        var tracker = new SequenceTracker();
        tracker.Observe(3, 100, out _);
        Assert.Equal(SequenceVerdict.StaleGeneration, tracker.Observe(2, 101, out _));
        Assert.Equal(SequenceVerdict.Deliver, tracker.Observe(3, 101, out long gap));
        Assert.Equal(0, gap);
    }

    [Fact]
    [Trait("Invariant", "Seq.Q4")]
    public void Q4_the_first_frame_or_a_resumed_position_sets_the_baseline()
    {
        var fresh = new SequenceTracker();
        Assert.Equal(SequenceVerdict.Deliver, fresh.Observe(5, 1_000, out long none));
        Assert.Equal(0, none);

        var resumed = new SequenceTracker();
        resumed.Resume(5, 990);
        Assert.Equal(SequenceVerdict.Deliver, resumed.Observe(5, 1_000, out long gap));
        Assert.Equal(9, gap);

        var unknown = new SequenceTracker();
        unknown.Resume(0, 0); // a bare stream sequence: no relay baseline
        unknown.Observe(5, 1_000, out long noGap);
        Assert.Equal(0, noGap);
    }
}
