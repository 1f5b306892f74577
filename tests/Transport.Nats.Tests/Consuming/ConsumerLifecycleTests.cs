using Transport.Nats.Consuming;
using Transport.Nats.Feeds;

namespace Transport.Nats.Tests.Consuming;

public sealed class ConsumerLifecycleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static LifecycleRecord Relay(ConnectionPhase phase, long epoch = 0, long lagged = 0, DateTimeOffset? downSince = null, long generation = 1) =>
        new(phase, epoch, 1, downSince, 1, lagged, false, phase is ConnectionPhase.Connected or ConnectionPhase.Resumed ? T0 : null, null, null, generation, "r1", null, T0);

    private static ConsumerInputs Inputs(LifecycleRecord? relay, bool bus = true, bool lease = true, DateTimeOffset? busDown = null, DateTimeOffset? leaseSeen = null,
        long upstream = 0, long gaps = 0, long evictions = 0, long stale = 0, bool disposed = false) =>
        new(disposed, bus, busDown, null, relay, lease, leaseSeen ?? T0, upstream, gaps, evictions, stale);

    private static readonly LifecycleSnapshot Start = LifecycleSnapshot.Initial with { DownSince = T0 };

    [Fact]
    [Trait("Invariant", "View.V1")]
    public void V1_up_needs_the_bus_the_relay_and_a_live_lease()
    {
        var relay = Relay(ConnectionPhase.Connected);
        Assert.Equal(ConnectionPhase.Connected, ConsumerLifecycle.Compose(Start, Inputs(relay), false, T0).Phase);
        Assert.Equal(ConnectionPhase.Connecting, ConsumerLifecycle.Compose(Start, Inputs(relay, bus: false), false, T0).Phase);
        Assert.Equal(ConnectionPhase.Connecting, ConsumerLifecycle.Compose(Start, Inputs(relay, lease: false), false, T0).Phase);
        Assert.Equal(ConnectionPhase.Connecting, ConsumerLifecycle.Compose(Start, Inputs(Relay(ConnectionPhase.Reconnecting)), false, T0).Phase);
        Assert.Equal(ConnectionPhase.Connecting, ConsumerLifecycle.Compose(Start, Inputs(null), false, T0).Phase);

        var up = ConsumerLifecycle.Compose(Start, Inputs(relay), false, T0);
        Assert.Equal(ConnectionPhase.Reconnecting, ConsumerLifecycle.Compose(up, Inputs(relay, lease: false), true, T0.AddSeconds(3)).Phase);
        Assert.Equal(ConnectionPhase.Reconnecting, ConsumerLifecycle.Compose(up, Inputs(relay, bus: false), true, T0.AddSeconds(3)).Phase);
    }

    [Fact]
    [Trait("Invariant", "View.V2")]
    public void V2_down_since_is_the_earliest_cause_and_is_kept_while_down()
    {
        var relay = Relay(ConnectionPhase.Connected);
        var up = ConsumerLifecycle.Compose(Start, Inputs(relay), false, T0);
        Assert.Equal(T0, up.UpSince);
        Assert.Null(up.DownSince);

        // The lease was last renewed at +1 s, the bus dropped at +2 s: down since +1 s.
        var down = ConsumerLifecycle.Compose(up, Inputs(relay, bus: false, lease: false, busDown: T0.AddSeconds(2), leaseSeen: T0.AddSeconds(1)), true, T0.AddSeconds(4));
        Assert.Equal(T0.AddSeconds(1), down.DownSince);
        var still = ConsumerLifecycle.Compose(down, Inputs(relay, bus: false, lease: false, busDown: T0.AddSeconds(9), leaseSeen: T0.AddSeconds(9)), true, T0.AddSeconds(10));
        Assert.Equal(T0.AddSeconds(1), still.DownSince);

        var back = ConsumerLifecycle.Compose(still, Inputs(relay), true, T0.AddSeconds(12));
        Assert.Equal(T0.AddSeconds(12), back.UpSince);
        Assert.Equal(TimeSpan.FromSeconds(11), back.LastOutage);
        Assert.Null(back.DownSince);
    }

    [Fact]
    [Trait("Invariant", "View.V3")]
    public void V3_a_takeover_is_a_resume_on_the_next_epoch()
    {
        var up = ConsumerLifecycle.Compose(Start, Inputs(Relay(ConnectionPhase.Connected, epoch: 4)), false, T0);
        Assert.Equal(4, up.Epoch);
        var takeover = Relay(ConnectionPhase.Resumed, epoch: 5, generation: 2);
        var resumed = ConsumerLifecycle.Compose(up, Inputs(takeover), true, T0.AddSeconds(3));
        Assert.Equal(ConnectionPhase.Resumed, resumed.Phase);
        Assert.Equal(5, resumed.Epoch);
        Assert.Equal(T0.AddSeconds(3), resumed.UpSince);

        // A stale record of an older epoch never moves the epoch back.
        var older = ConsumerLifecycle.Compose(resumed, Inputs(Relay(ConnectionPhase.Connected, epoch: 4)), true, T0.AddSeconds(4));
        Assert.Equal(5, older.Epoch);
    }

    [Fact]
    [Trait("Invariant", "View.V4")]
    public void V4_total_lagged_adds_every_loss_the_consumer_knows()
    {
        var relay = Relay(ConnectionPhase.Connected, lagged: 7);
        var s = ConsumerLifecycle.Compose(Start, Inputs(relay, upstream: 9, gaps: 2, evictions: 3, stale: 1), false, T0);
        Assert.Equal(9 + 2 + 3 + 1, s.TotalLagged);
        var later = ConsumerLifecycle.Compose(s, Inputs(relay, upstream: 0, gaps: 0, evictions: 0, stale: 0), true, T0);
        Assert.Equal(15, later.TotalLagged); // cumulative: never decreases
    }

    [Fact]
    [Trait("Invariant", "View.V5")]
    public void V5_only_disposal_is_terminal()
    {
        var error = new ErrorRecord(TransportErrorKind.Auth, "Handshake rejected (401).", 401, null);
        var failed = Relay(ConnectionPhase.Unrecoverable) with { LastError = error, Exhausted = true };
        var up = ConsumerLifecycle.Compose(Start, Inputs(Relay(ConnectionPhase.Connected)), false, T0);
        var s = ConsumerLifecycle.Compose(up, Inputs(failed), true, T0.AddSeconds(1));
        Assert.Equal(ConnectionPhase.Reconnecting, s.Phase);
        Assert.False(s.IsTerminal);
        Assert.Equal(TransportErrorKind.Auth, s.LastError?.Kind);
        Assert.True(s.Exhausted);

        var closed = ConsumerLifecycle.Compose(s, Inputs(failed, disposed: true), true, T0.AddSeconds(2));
        Assert.Equal(ConnectionPhase.Closed, closed.Phase);
        Assert.True(closed.IsTerminal);
    }
}
