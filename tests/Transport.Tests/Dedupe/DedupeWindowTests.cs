using CsCheck;
using Transport.WebSockets.Dedupe;

namespace Transport.Tests.Dedupe;

/// <summary>
/// The dedupe window's edges as tables: timestamps are plain ticks at 1 tick = 1 ms (the window is
/// given a frequency of 1,000 per second), so "MaxAge 10 ms" is exactly 10 ticks.
/// </summary>
public sealed class DedupeWindowTests
{
    private const long PerSecond = 1_000;

    private static DedupeWindow Window(int maxKeys = 1_000, int maxAgeMs = 10) =>
        new(new DedupeWindowOptions { MaxKeys = maxKeys, MaxAge = TimeSpan.FromMilliseconds(maxAgeMs) }, PerSecond);

    private static DedupeKey K(long seq, string stream = "BTC-USD") => DedupeKey.For(stream, seq);

    [Fact]
    [Trait("Invariant", "Dedupe.D1")]
    public void D1_first_offer_is_admitted_and_every_copy_within_the_window_is_a_duplicate()
    {
        var w = Window();
        Assert.True(w.TryAdmit(K(1), 0));
        Assert.False(w.TryAdmit(K(1), 1));
        Assert.False(w.TryAdmit(K(1), 2));
        Assert.True(w.TryAdmit(K(2), 2));
        Assert.True(w.TryAdmit(K(1, "ETH-USD"), 2));                 // same sequence, other stream: another message
        Assert.Equal((3L, 2L, 3), (w.Admitted, w.Duplicates, w.Count));
    }

    // Dedupe.D2 at the age edge: first admitted at 100, MaxAge 10 ticks; the copy arrives at `copyAt`.
    [Theory]
    [Trait("Invariant", "Dedupe.D2")]
    [InlineData(100, false, 0)]   // same instant
    [InlineData(109, false, 0)]   // one tick inside
    [InlineData(110, false, 0)]   // exactly at the bound: still remembered
    [InlineData(111, true, 1)]    // one tick past: forgotten, admitted again
    [InlineData(5_000, true, 1)]
    public void D2_a_copy_exactly_at_the_age_bound_is_still_a_duplicate_and_one_tick_later_is_new(long copyAt, bool admitted, long evictedByAge)
    {
        var w = Window(maxAgeMs: 10);
        Assert.True(w.TryAdmit(K(1), 100));
        Assert.Equal(admitted, w.TryAdmit(K(1), copyAt));
        Assert.Equal(evictedByAge, w.EvictedByAge);
        Assert.Equal(0, w.EvictedByCount);
        Assert.Equal(1, w.Count);
    }

    [Fact]
    [Trait("Invariant", "Dedupe.D2")]
    public void D2_an_offer_evicts_every_key_older_than_the_bound_and_keeps_the_rest()
    {
        var w = Window(maxAgeMs: 10);
        for (long t = 0; t < 10; t++)
        {
            Assert.True(w.TryAdmit(K(t), t));                        // key t admitted at t
        }

        Assert.True(w.TryAdmit(K(100), 14));                         // 14 - 0..3 > 10: keys 0-3 go; 4 (age 10) stays
        Assert.Equal(4, w.EvictedByAge);
        Assert.Equal(7, w.Count);
        Assert.False(w.Contains(K(3)));
        Assert.True(w.Contains(K(4)));
        Assert.False(w.TryAdmit(K(4), 14));
    }

    // Dedupe.D3 at the count edge: MaxKeys 3; keys 1..n admitted at t = 0, then key `probe` offered.
    [Theory]
    [Trait("Invariant", "Dedupe.D3")]
    [InlineData(3, 1, false, 0)]  // exactly at the bound: nothing evicted, 1 still remembered
    [InlineData(4, 1, true, 1)]   // one over: the oldest (1) went, so it is new again
    [InlineData(4, 2, false, 1)]  // ...and the next oldest is still there
    [InlineData(6, 3, true, 3)]   // 1, 2, 3 evicted in order
    [InlineData(6, 4, false, 3)]
    public void D3_the_count_bound_evicts_the_oldest_first(int admitted, long probe, bool probeAdmitted, long evictedByCount)
    {
        var w = Window(maxKeys: 3, maxAgeMs: 1_000);
        for (long seq = 1; seq <= admitted; seq++)
        {
            Assert.True(w.TryAdmit(K(seq), 0));
        }

        Assert.Equal(Math.Min(admitted, 3), w.Count);
        Assert.Equal(evictedByCount, w.EvictedByCount);
        Assert.Equal(probeAdmitted, w.TryAdmit(K(probe), 0));
        Assert.True(w.Count <= 3);
        Assert.Equal(0, w.EvictedByAge);
    }

    [Fact]
    [Trait("Invariant", "Dedupe.D4")]
    public void D4_eviction_follows_admission_order_and_a_late_timestamp_is_clamped_to_the_newest()
    {
        var w = Window(maxKeys: 100, maxAgeMs: 10);
        Assert.True(w.TryAdmit(K(1), 50));
        Assert.True(w.TryAdmit(K(2), 40));                           // earlier than 50: stamped 50, not 40
        Assert.True(w.TryAdmit(K(3), 55));
        Assert.True(w.TryAdmit(K(4), 60));                           // 60 - 50 = 10: keys 1 and 2 stay (at the bound)
        Assert.Equal(0, w.EvictedByAge);
        Assert.False(w.TryAdmit(K(2), 60, out long firstSeen));
        Assert.Equal(50, firstSeen);

        Assert.True(w.TryAdmit(K(5), 61));                           // 1 and 2 (stamped 50) go together, 3 stays
        Assert.Equal(2, w.EvictedByAge);
        Assert.Equal([false, false, true, true, true], new[] { 1L, 2, 3, 4, 5 }.Select(s => w.Contains(K(s))));
    }

    [Fact]
    [Trait("Invariant", "Dedupe.D4")]
    public void D4_count_eviction_order_survives_wrap_around_and_growth()
    {
        // Past the initial 1,024 slots, with the ring wrapped: the window must still forget the oldest first.
        var w = Window(maxKeys: 3_000, maxAgeMs: 1_000_000);
        for (long seq = 0; seq < 10_000; seq++)
        {
            Assert.True(w.TryAdmit(K(seq), seq / 100));
            Assert.False(w.TryAdmit(K(seq), seq / 100));
            if (seq >= 3_000)
            {
                Assert.False(w.Contains(K(seq - 3_000)));
                Assert.True(w.Contains(K(seq - 2_999)));
            }
        }

        Assert.Equal(3_000, w.Count);
        Assert.Equal(7_000, w.EvictedByCount);
    }

    // Dedupe.D5: a key re-seen after eviction, by each bound.
    [Theory]
    [Trait("Invariant", "Dedupe.D5")]
    [InlineData("age")]
    [InlineData("count")]
    public void D5_a_key_seen_again_after_its_eviction_is_new_and_starts_a_new_age(string bound)
    {
        var w = Window(maxKeys: 2, maxAgeMs: 10);
        Assert.True(w.TryAdmit(K(1), 0));
        long t = 0;
        if (bound == "age")
        {
            t = 11;
        }
        else
        {
            Assert.True(w.TryAdmit(K(2), 0));
            Assert.True(w.TryAdmit(K(3), 0));                        // evicts 1
        }

        Assert.True(w.TryAdmit(K(1), t, out long firstSeen));
        Assert.Equal(t, firstSeen);
        Assert.False(w.TryAdmit(K(1), t + 10));                      // the new admission's age runs from t
        Assert.Equal(bound == "age" ? (1L, 0L) : (0L, 1L + 1), (w.EvictedByAge, w.EvictedByCount));
    }

    [Fact]
    [Trait("Invariant", "Dedupe.D6")]
    public void D6_a_duplicate_does_not_refresh_the_age_of_its_key()
    {
        var w = Window(maxAgeMs: 10);
        Assert.True(w.TryAdmit(K(1), 0));
        Assert.False(w.TryAdmit(K(1), 9));
        Assert.False(w.TryAdmit(K(1), 10));
        Assert.True(w.TryAdmit(K(1), 11));                           // 11 after the first, not 2 after the last copy
    }

    [Fact]
    [Trait("Invariant", "Dedupe.D7")]
    public void D7_steady_state_admission_and_duplicates_allocate_nothing()
    {
        var w = Window(maxKeys: 4_096, maxAgeMs: 50);
        Run(w, 0);                                                   // warm up: grow to the bound, JIT every path
        Assert.True(w.EvictedByCount > 0 && w.EvictedByAge > 0, "the warm-up must reach both bounds");

        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(w, 100_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);

        static void Run(DedupeWindow w, long from)
        {
            // Two copies per key (a leg behind by 3 keys), bursts that hit the count bound, pauses that age keys out.
            for (long i = from; i < from + 50_000; i++)
            {
                long t = (i / 5_000 * 100) + (i % 5_000 / 1_000);
                w.TryAdmit(new DedupeKey((ulong)(i % 7), i), t);
                w.TryAdmit(new DedupeKey((ulong)((i - 3) % 7), i - 3), t);
            }
        }
    }

    [Fact]
    [Trait("Invariant", "Dedupe.D8")]
    [Trait("Invariant", "Dedupe.D1")]
    [Trait("Invariant", "Dedupe.D2")]
    [Trait("Invariant", "Dedupe.D3")]
    [Trait("Invariant", "Dedupe.D4")]
    public void D8_random_offers_match_a_reference_model()
    {
        var ops = Gen.Select(Gen.Int[0, 40], Gen.Frequency((6, Gen.Long[0, 2]), (1, Gen.Long[0, 15]), (1, Gen.Long[-3, 0]))).Array[1, 400];
        Gen.Select(Gen.Int[1, 30], Gen.Int[1, 20], ops).Sample((maxKeys, maxAgeMs, offers) =>
        {
            var w = Window(maxKeys, maxAgeMs);
            var model = new List<(long Seq, long Stamp)>();
            long time = 0, newest = long.MinValue, offered = 0;
            foreach (var (seq, step) in offers)
            {
                time += step;                                        // occasionally backwards: clamped (D4)
                long stamp = Math.Max(time, newest);
                newest = stamp;
                model.RemoveAll(e => stamp - e.Stamp > maxAgeMs);
                bool expected = !model.Exists(e => e.Seq == seq);
                if (expected)
                {
                    if (model.Count == maxKeys)
                    {
                        model.RemoveAt(0);
                    }

                    model.Add((seq, stamp));
                }

                offered++;
                Assert.Equal(expected, w.TryAdmit(K(seq), time));
                Assert.Equal(model.Count, w.Count);
                Assert.True(w.Count <= maxKeys);
            }

            Assert.All(model, e => Assert.True(w.Contains(K(e.Seq))));
            Assert.Equal(offered, w.Admitted + w.Duplicates);
            Assert.Equal(w.Count, w.Admitted - w.EvictedByAge - w.EvictedByCount);
        });
    }

    [Fact]
    public void Clear_forgets_every_key_and_keeps_the_counts()
    {
        var w = Window();
        w.TryAdmit(K(1), 0);
        w.TryAdmit(K(1), 0);
        w.Clear();
        Assert.Equal(0, w.Count);
        Assert.True(w.TryAdmit(K(1), 0));
        Assert.Equal((2L, 1L), (w.Admitted, w.Duplicates));
    }

    [Theory]
    [InlineData(0, 1_000, "RedundantOptions.Dedupe.MaxKeys")]
    [InlineData(16_777_217, 1_000, "RedundantOptions.Dedupe.MaxKeys")]
    [InlineData(10, 0, "RedundantOptions.Dedupe.MaxAge")]
    [InlineData(10, 86_400_001, "RedundantOptions.Dedupe.MaxAge")]
    public void Options_out_of_range_fail_naming_the_field(int maxKeys, int maxAgeMs, string field)
    {
        var options = new DedupeWindowOptions { MaxKeys = maxKeys, MaxAge = TimeSpan.FromMilliseconds(maxAgeMs) };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate("RedundantOptions.Dedupe"));
        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_are_the_documented_ones()
    {
        var options = new DedupeWindowOptions();
        Assert.Equal((100_000, TimeSpan.FromSeconds(10)), (options.MaxKeys, options.MaxAge));
        options.Validate("x");
    }

    [Fact]
    public void The_age_bound_converts_exactly_at_the_clock_frequency()
    {
        // 10 s at 1e9 ticks per second (Stopwatch on Linux): a copy 10 s later is still caught, 10 s + 1 ns is not.
        var w = new DedupeWindow(new DedupeWindowOptions { MaxAge = TimeSpan.FromSeconds(10) }, 1_000_000_000);
        Assert.True(w.TryAdmit(K(1), 0));
        Assert.False(w.TryAdmit(K(1), 10_000_000_000));
        Assert.True(w.TryAdmit(K(1), 10_000_000_001));
    }
}
