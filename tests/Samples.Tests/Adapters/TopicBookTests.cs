using TradingAdapters.State;

namespace Samples.Tests.Adapters;

/// <summary>The per-topic sequence rules, alone.</summary>
public sealed class TopicBookTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Ticks_before_the_subscribe_reply_are_ignored_then_seq_must_run_plus_one()
    {
        var book = new TopicBook(["A"]);
        var id = book.BeginSubscribe("A", epoch: 3, T0, single: false);

        Assert.Equal(TickOutcome.Ignored, book.OnTick("A", 57, 1m, T0, out _)); // a tick of the replaced subscription
        book.OnSubscribed(id + 1, ["A"], T0); // someone else's reply
        Assert.False(book.IsLive("A"));
        book.OnSubscribed(id, ["A"], T0);

        Assert.Equal(TickOutcome.AcceptedFirst, book.OnTick("A", 1, 1m, T0, out var epoch));
        Assert.Equal(3, epoch);
        Assert.Equal(TickOutcome.Accepted, book.OnTick("A", 2, 2m, T0, out _));
        Assert.Equal(TickOutcome.Gap, book.OnTick("A", 4, 4m, T0, out _));
        Assert.Equal(TickOutcome.Ignored, book.OnTick("A", 5, 5m, T0, out _)); // untrusted until resubscribed

        var view = book.Snapshot().Single();
        Assert.Equal((2L, 2m, 1L, 2L), (view.LastSeq, view.LastPrice!.Value, view.Gaps, view.Ticks));
        Assert.Equal(2, book.TicksByEpoch[3]);
    }

    [Fact]
    public void A_topic_is_stale_after_the_threshold_of_silence_and_a_resubscribe_resets_the_clock()
    {
        var book = new TopicBook(["A", "B"]);
        book.OnSubscribed(book.BeginSubscribe("A", 0, T0, single: false), ["A"], T0);
        book.OnSubscribed(book.BeginSubscribe("B", 0, T0, single: false), ["B"], T0);
        book.OnTick("B", 1, 1m, T0.AddSeconds(2), out _);

        Assert.Equal(["A"], book.StaleTopics(T0.AddSeconds(2.5), TimeSpan.FromSeconds(1)));

        book.BeginSubscribe("A", 0, T0.AddSeconds(2.5), single: true);
        Assert.Empty(book.StaleTopics(T0.AddSeconds(3), TimeSpan.FromSeconds(1)));
        Assert.Equal(1, book.Snapshot()[0].Resubscribes);
    }
}
