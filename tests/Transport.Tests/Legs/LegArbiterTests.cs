using Transport.WebSockets.Legs;

namespace Transport.Tests.Legs;

/// <summary>The arbiter's decisions, frame by frame, without a connection.</summary>
public sealed class LegArbiterTests
{
    private static LegArbiter Arbiter(int legs = 2, UnkeyedFramePolicy policy = UnkeyedFramePolicy.PrimaryOnly, FrameKeySelector? selector = null) =>
        new(legs, selector ?? TextKeys.Selector, new DedupeWindowOptions(), policy, TimeSpan.TicksPerSecond);

    private static Frame F(string text, long receivedAt = 0) => Frame.Text(text).WithReceivedAt(receivedAt);

    [Fact]
    [Trait("Invariant", "Legs.R1")]
    public void R1_the_first_copy_offered_wins_whichever_leg_it_comes_from()
    {
        var arbiter = Arbiter(3);
        Assert.Equal(LegVerdict.Won, arbiter.Offer(1, F("BTC:1", 100), 100, primary: 0));
        Assert.Equal(LegVerdict.Duplicate, arbiter.Offer(0, F("BTC:1", 150), 150, primary: 0));
        Assert.Equal(LegVerdict.Duplicate, arbiter.Offer(2, F("BTC:1", 400), 400, primary: 0));
        Assert.Equal(LegVerdict.Won, arbiter.Offer(2, F("BTC:2", 400), 400, primary: 0));
        Assert.Equal(LegVerdict.Won, arbiter.Offer(0, F("ETH:1", 400), 400, primary: 0));

        Assert.Equal((1L, 0L), (arbiter.CountsOf(1).Wins, arbiter.CountsOf(1).Duplicates));
        Assert.Equal((1L, 1L), (arbiter.CountsOf(0).Wins, arbiter.CountsOf(0).Duplicates));
        Assert.Equal((1L, 1L), (arbiter.CountsOf(2).Wins, arbiter.CountsOf(2).Duplicates));
        Assert.Equal(300.0 / TimeSpan.TicksPerSecond, arbiter.TakeBatchBehind(2)!.Value, 9);
        Assert.Null(arbiter.TakeBatchBehind(2));
    }

    // Legs.R2: (policy, primary, offering leg) -> verdict for an unkeyed frame.
    [Theory]
    [Trait("Invariant", "Legs.R2")]
    [InlineData(UnkeyedFramePolicy.PrimaryOnly, 0, 0, "DeliveredUnkeyed")]
    [InlineData(UnkeyedFramePolicy.PrimaryOnly, 0, 1, "NotPrimary")]
    [InlineData(UnkeyedFramePolicy.PrimaryOnly, 1, 1, "DeliveredUnkeyed")]
    [InlineData(UnkeyedFramePolicy.PrimaryOnly, -1, 1, "DeliveredUnkeyed")]
    [InlineData(UnkeyedFramePolicy.All, 0, 1, "DeliveredUnkeyed")]
    public void R2_unkeyed_frames_by_policy_and_primary(UnkeyedFramePolicy policy, int primary, int leg, string expected)
    {
        var arbiter = Arbiter(policy: policy);
        Assert.Equal(Enum.Parse<LegVerdict>(expected), arbiter.Offer(leg, F("heartbeat"), 0, primary));
    }

    [Fact]
    [Trait("Invariant", "Legs.R3")]
    public void R3_counts_add_up_per_leg_and_overall()
    {
        var arbiter = Arbiter();
        var random = new Random(5);
        for (int i = 0; i < 2_000; i++)
        {
            int leg = random.Next(2);
            string text = random.Next(5) == 0 ? "unkeyed" : $"T{random.Next(3)}:{random.Next(300)}";
            arbiter.Offer(leg, F(text, i), i, primary: random.Next(3) - 1);
        }

        var a = arbiter.CountsOf(0);
        var b = arbiter.CountsOf(1);
        Assert.Equal(2_000, a.Wins + a.Duplicates + a.Unkeyed + a.UnkeyedDropped + b.Wins + b.Duplicates + b.Unkeyed + b.UnkeyedDropped);
        Assert.Equal(arbiter.Window!.Admitted, a.Wins + b.Wins);
        Assert.Equal(arbiter.Delivered, a.Wins + b.Wins + a.Unkeyed + b.Unkeyed);
        Assert.Equal(arbiter.Dropped, a.Duplicates + b.Duplicates + a.UnkeyedDropped + b.UnkeyedDropped);
    }

    [Fact]
    [Trait("Invariant", "Legs.R4")]
    public void R4_a_throwing_selector_makes_the_frame_unkeyed_and_is_reported_once_per_leg()
    {
        var arbiter = Arbiter(selector: static (in Frame _, out DedupeKey _) => throw new InvalidOperationException("adapter bug"));
        Assert.Equal(LegVerdict.DeliveredUnkeyed, arbiter.Offer(0, F("BTC:1"), 0, primary: 0));
        Assert.Equal(LegVerdict.NotPrimary, arbiter.Offer(1, F("BTC:1"), 0, primary: 0));
        Assert.Equal(LegVerdict.DeliveredUnkeyed, arbiter.Offer(0, F("BTC:2"), 0, primary: 0));
        Assert.Equal(2, arbiter.CountsOf(0).SelectorFaults);
        Assert.Equal(nameof(InvalidOperationException), arbiter.TakeFirstSelectorFault(0));
        Assert.Null(arbiter.TakeFirstSelectorFault(0));
        Assert.Equal(nameof(InvalidOperationException), arbiter.TakeFirstSelectorFault(1));
    }

    [Fact]
    public void Without_a_selector_there_is_no_window_and_every_frame_is_unkeyed()
    {
        var arbiter = new LegArbiter(2, null, new DedupeWindowOptions(), UnkeyedFramePolicy.PrimaryOnly, TimeSpan.TicksPerSecond);
        Assert.Null(arbiter.Window);
        Assert.Equal(LegVerdict.DeliveredUnkeyed, arbiter.Offer(0, F("BTC:1"), 0, 0));
        Assert.Equal(LegVerdict.NotPrimary, arbiter.Offer(1, F("BTC:1"), 0, 0));
    }
}
