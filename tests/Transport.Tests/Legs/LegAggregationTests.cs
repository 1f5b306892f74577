using Transport.WebSockets.Legs;

namespace Transport.Tests.Legs;

/// <summary>
/// The aggregate lifecycle's rules on synthetic leg snapshots: times are seconds after T0, versions grow per
/// leg as a real publisher's do.
/// </summary>
public sealed class LegAggregationTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset At(double seconds) => T0 + TimeSpan.FromSeconds(seconds);

    private sealed class Script(int legs)
    {
        private readonly long[] _versions = new long[legs];

        public LegAggregation Aggregation { get; } = new(legs, T0);

        public List<LifecycleSnapshot> Published { get; } = [];

        public LifecycleSnapshot Now => Aggregation.Current;

        public void Up(int leg, long epoch, double at, TimeSpan? lastOutage = null, ConnectionPhase? phase = null) =>
            Apply(leg, new LifecycleSnapshot(phase ?? (epoch == 0 ? ConnectionPhase.Connected : ConnectionPhase.Resumed), epoch, ++_versions[leg], null, epoch + 1, 0, false, null) { UpSince = At(at), LastOutage = lastOutage }, at);

        public void Down(int leg, long epoch, double since, double at, TransportException? error = null) =>
            Apply(leg, new LifecycleSnapshot(ConnectionPhase.Reconnecting, epoch, ++_versions[leg], At(since), epoch + 1, 0, false, error ?? TransportException.Connection("cut")), at);

        public void End(int leg, ConnectionPhase phase, double at, bool exhausted = false) =>
            Apply(leg, new LifecycleSnapshot(phase, 0, ++_versions[leg], At(at), 1, 0, exhausted, null), at);

        public void Apply(int leg, LifecycleSnapshot snapshot, double at)
        {
            if (Aggregation.Apply(leg, snapshot, At(at)))
            {
                Published.Add(Aggregation.Current);
            }
        }
    }

    [Fact]
    [Trait("Invariant", "Legs.A1")]
    public void A1_the_aggregate_is_up_while_any_leg_is_and_a_single_leg_down_changes_nothing()
    {
        var s = new Script(2);
        Assert.Equal(ConnectionPhase.Connecting, s.Now.Phase);
        Assert.Equal(T0, s.Now.DownSince);
        s.Up(1, 0, at: 1);                                        // the second leg comes up first
        Assert.Equal((ConnectionPhase.Connected, 0L, At(1)), (s.Now.Phase, s.Now.Epoch, s.Now.UpSince!.Value));
        s.Up(0, 0, at: 2);
        var before = s.Now;

        s.Down(0, 0, since: 5, at: 5);
        s.Up(0, 1, at: 6, lastOutage: TimeSpan.FromSeconds(1));
        s.Down(1, 0, since: 7, at: 7);
        Assert.Equal((ConnectionPhase.Connected, 0L), (s.Now.Phase, s.Now.Epoch));
        Assert.Equal(before.UpSince, s.Now.UpSince);
        Assert.Null(s.Now.DownSince);
        Assert.Equal(1, s.Aggregation.UpCount);
        Assert.Equal(0, s.Aggregation.Primary);
    }

    [Fact]
    [Trait("Invariant", "Legs.A2")]
    public void A2_every_leg_down_is_a_down_edge_from_the_last_loss_and_the_next_up_edge_is_one_epoch()
    {
        var s = new Script(3);
        s.Up(0, 0, 1);
        s.Up(1, 0, 1);
        s.Up(2, 0, 1);
        s.Down(0, 0, since: 10, at: 10);
        s.Down(2, 0, since: 11, at: 11);
        Assert.True(s.Now.IsUp);
        s.Down(1, 0, since: 12, at: 12);
        Assert.Equal((ConnectionPhase.Reconnecting, 0L, At(12)), (s.Now.Phase, s.Now.Epoch, s.Now.DownSince!.Value));

        s.Up(2, 1, at: 14, lastOutage: TimeSpan.FromSeconds(3));
        Assert.Equal((ConnectionPhase.Resumed, 1L), (s.Now.Phase, s.Now.Epoch));
        Assert.Equal(TimeSpan.FromSeconds(2), s.Now.LastOutage);  // from the last loss (12) to the first leg back (14)
        Assert.Equal(At(14), s.Now.UpSince);

        s.Up(0, 1, at: 15, lastOutage: TimeSpan.FromSeconds(5));
        s.Up(1, 1, at: 16, lastOutage: TimeSpan.FromSeconds(4));
        Assert.Equal(1, s.Now.Epoch);                              // the others coming back is not another cycle
        Assert.Equal([ConnectionPhase.Connected, ConnectionPhase.Reconnecting, ConnectionPhase.Resumed], s.Published.Select(p => p.Phase).Distinct());
    }

    [Fact]
    [Trait("Invariant", "Legs.A3")]
    public void A3_an_all_down_period_found_from_a_back_dated_loss_advances_the_epoch_once()
    {
        // Leg 0 went silent at 10 and its liveness timeout noticed at 30 (down-since back-dated to 10). Leg 1 was
        // cut at 20 and back at 21: between 20 and 21 neither leg carried anything, yet the aggregate looked up.
        var s = new Script(2);
        s.Up(0, 0, 1);
        s.Up(1, 0, 1);
        s.Down(1, 0, since: 20, at: 20);
        s.Up(1, 1, at: 21, lastOutage: TimeSpan.FromSeconds(1));
        Assert.Equal(0, s.Now.Epoch);

        s.Down(0, 0, since: 10, at: 30);
        Assert.Equal((ConnectionPhase.Resumed, 1L), (s.Now.Phase, s.Now.Epoch));
        Assert.Equal(TimeSpan.FromSeconds(1), s.Now.LastOutage);
        Assert.True(s.Published.All(p => p.IsUp), "found afterwards: no down-edge is invented");

        s.Up(0, 1, at: 31, lastOutage: TimeSpan.FromSeconds(21));
        Assert.Equal(1, s.Now.Epoch);                              // the same period is never counted twice
    }

    [Fact]
    [Trait("Invariant", "Legs.A3")]
    public void A3_a_down_cycle_skipped_by_a_catch_up_is_known_from_its_last_outage()
    {
        var s = new Script(2);
        s.Up(0, 0, 1);
        s.Up(1, 0, 1);
        s.Down(1, 0, since: 20, at: 20);
        // Leg 0's snapshots between epoch 0 and 1 were never applied (a catch-up read its newest): it was down 19-22.
        s.Up(0, 1, at: 22, lastOutage: TimeSpan.FromSeconds(3));
        Assert.Equal((ConnectionPhase.Resumed, 1L, TimeSpan.FromSeconds(2)), (s.Now.Phase, s.Now.Epoch, s.Now.LastOutage!.Value));

        s.Up(1, 1, at: 23, lastOutage: TimeSpan.FromSeconds(3));
        Assert.Equal(1, s.Now.Epoch);
    }

    [Fact]
    [Trait("Invariant", "Legs.A3")]
    public void A3_handing_over_at_the_same_instant_is_not_a_gap()
    {
        var s = new Script(2);
        s.Up(0, 0, 1);
        s.Up(1, 0, 1);
        s.Down(0, 0, since: 10, at: 10);
        s.Up(0, 1, at: 12, lastOutage: TimeSpan.FromSeconds(2));
        s.Down(1, 0, since: 12, at: 12);
        s.Up(1, 1, at: 13, lastOutage: TimeSpan.FromSeconds(1));
        Assert.Equal(0, s.Now.Epoch);
    }

    // Legs.A4: terminal phase by how the legs ended (Closed, Unrecoverable, exhausted) and whether the owner shut down.
    [Theory]
    [Trait("Invariant", "Legs.A4")]
    [InlineData(false, ConnectionPhase.Unrecoverable, ConnectionPhase.Closed, false, ConnectionPhase.Unrecoverable, false)]
    [InlineData(false, ConnectionPhase.Unrecoverable, ConnectionPhase.Unrecoverable, false, ConnectionPhase.Unrecoverable, false)]
    [InlineData(false, ConnectionPhase.Closed, ConnectionPhase.Closed, true, ConnectionPhase.Closed, true)]
    [InlineData(true, ConnectionPhase.Unrecoverable, ConnectionPhase.Closed, false, ConnectionPhase.Closed, false)]
    [InlineData(true, ConnectionPhase.Closed, ConnectionPhase.Closed, false, ConnectionPhase.Closed, false)]
    public void A4_terminal_only_when_every_leg_is(bool shutdown, ConnectionPhase first, ConnectionPhase second, bool exhausted, ConnectionPhase expected, bool expectExhausted)
    {
        var s = new Script(2);
        s.Up(0, 0, 1);
        s.Up(1, 0, 1);
        if (shutdown)
        {
            s.Aggregation.RequestShutdown(At(5));
        }

        s.End(0, first, at: 6, exhausted: exhausted);
        Assert.False(s.Now.IsTerminal);
        Assert.True(s.Now.IsUp);                                  // up while the other leg is (and no down-edge in a shutdown)

        s.End(1, second, at: 7, exhausted: exhausted);
        Assert.Equal((expected, expectExhausted), (s.Now.Phase, s.Now.Exhausted));
        Assert.Equal(At(7), s.Now.DownSince);                     // from up: the instant it ended
        Assert.False(s.Aggregation.Apply(0, new LifecycleSnapshot(ConnectionPhase.Connected, 0, 99, null, 0, 0, false, null), At(8)));
    }

    [Fact]
    [Trait("Invariant", "Legs.A5")]
    public void A5_an_older_snapshot_than_one_applied_is_ignored()
    {
        var s = new Script(2);
        var older = new LifecycleSnapshot(ConnectionPhase.Reconnecting, 0, 3, At(5), 1, 0, false, null);
        var newer = new LifecycleSnapshot(ConnectionPhase.Resumed, 1, 4, null, 2, 0, false, null) { UpSince = At(6), LastOutage = TimeSpan.FromSeconds(1) };
        s.Apply(0, newer, 6);
        s.Apply(0, older, 6);
        Assert.True(s.Aggregation.IsUp(0));
        Assert.Same(newer, s.Aggregation.Leg(0));
    }

    [Fact]
    [Trait("Invariant", "Legs.A6")]
    public void A6_attempts_and_lag_are_sums_and_never_decrease()
    {
        var s = new Script(2);
        s.Apply(0, new LifecycleSnapshot(ConnectionPhase.Connected, 0, 1, null, 3, 10, false, null) { UpSince = At(1) }, 1);
        s.Apply(1, new LifecycleSnapshot(ConnectionPhase.Connected, 0, 1, null, 2, 5, false, null) { UpSince = At(1) }, 1);
        s.Aggregation.AddMergedLagged(7, At(2));
        Assert.Equal((5L, 22L), (s.Now.Attempts, s.Now.TotalLagged));

        s.Apply(1, new LifecycleSnapshot(ConnectionPhase.Connected, 0, 2, null, 2, 6, false, null) { UpSince = At(1) }, 3);
        Assert.Equal(23, s.Now.TotalLagged);
    }

    [Fact]
    public void Stale_only_when_every_up_leg_is_stale()
    {
        var s = new Script(2);
        s.Up(0, 0, 1);
        s.Up(1, 0, 1);
        s.Up(0, 0, 5, phase: ConnectionPhase.Stale);
        Assert.Equal(ConnectionPhase.Connected, s.Now.Phase);
        s.Up(1, 0, 6, phase: ConnectionPhase.Stale);
        Assert.Equal(ConnectionPhase.Stale, s.Now.Phase);
        s.Down(1, 0, since: 7, at: 7);
        Assert.Equal(ConnectionPhase.Stale, s.Now.Phase);
        s.Up(0, 0, 8);
        Assert.Equal(ConnectionPhase.Connected, s.Now.Phase);
    }
}
