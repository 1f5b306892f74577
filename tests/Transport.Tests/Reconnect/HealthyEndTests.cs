using Transport.Mock;
using Transport.Tests.Actor;
using Transport.WebSockets;
using Xunit.Abstractions;

namespace Transport.Tests.Reconnect;

/// <summary>
/// Issue #21 part 1 over the whole stack (scripted connector, manual clock, pumped spawn): a venue's
/// scheduled end costs no backoff (Budget.B5), a feed that delivers data between faults is never
/// Exhausted (Budget.B6), and the no-hammering rules still hold where nothing proves the feed works.
/// </summary>
public sealed class HealthyEndTests(ITestOutputHelper output)
{
    private static readonly TransportException Refused = TransportException.Connection("refused");

    /// <summary>The main job's simulator: every session ends with 1001 after 20 s, ticks flowing meanwhile.</summary>
    private static readonly TimeSpan VenueLifetime = TimeSpan.FromSeconds(20);

    public static TheoryData<string, TimeSpan, TimeSpan, int, TimeSpan> MainJobOptions => new()
    {
        // name, MinBackoff, MaxBackoff, attempts per window, window
        { "library defaults", TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(30), 300, TimeSpan.FromMinutes(5) },
        { "console subscriber", TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5), 60, TimeSpan.FromMinutes(1) },
    };

    /// <summary>
    /// The figure: with StableAfter 30 s, each 20 s session ended by the venue's 1001 used to
    /// add a backoff step (3-5 s per rotation after 10 minutes). Now every one reconnects at once: the
    /// attempt starts with the clock not advanced at all, for 300 cycles (100 minutes).
    /// </summary>
    [Theory]
    [MemberData(nameof(MainJobOptions))]
    [Trait("Invariant", "Budget.B5")]
    [Trait("Invariant", "Policy.P6")]
    public async Task Policy_P6_default_main_job_reconnects_at_once_after_every_lifetime_close(string name, TimeSpan minBackoff, TimeSpan maxBackoff, int perWindow, TimeSpan window)
    {
        var (connector, clock, spawner) = MockHarness.Create();
        spawner.UnpumpedWaitTimeout = TimeSpan.FromSeconds(60);
        var connection = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri("ws://venue.test/ws").WithBackoff(minBackoff, maxBackoff).WithAttemptRateLimit(perWindow, window))
            .UseLeaf(connector)
            .WithTimeProvider(clock)
            .WithSpawner(spawner)
            .WithRandom(() => 0.5)
            .Build()
            .Start();
        spawner.RunUntilIdle();
        Assert.Equal(TimeSpan.FromSeconds(30), new ReconnectOptions().StableAfter); // the default this scenario runs with

        for (var cycle = 1; cycle <= 300; cycle++)
        {
            var socket = connector.Current!;
            for (var second = 0; second < VenueLifetime.TotalSeconds; second++)
            {
                socket.DeliverText("tick");
                clock.Advance(TimeSpan.FromSeconds(1));
                spawner.RunUntilIdle();
            }

            socket.DeliverClose(CloseCodes.GoingAway, "connection lifetime reached");
            spawner.RunUntilIdle();

            // Immediate: the next socket is up without the clock moving.
            var now = connection.Lifecycle.Current;
            Assert.True(now.Phase == ConnectionPhase.Resumed && now.Epoch == cycle, $"{name}, cycle {cycle}: {now}");
            Assert.Equal(cycle + 1, connector.Attempts);
            Assert.Equal(TimeSpan.Zero, now.LastOutage);
            while (connection.Source.TryRead(out _))
            {
            }
        }

        output.WriteLine($"{name}: 300 lifetime closes of 20 s sessions, 301 attempts, every outage 0 s on the manual clock");
    }

    /// <summary>
    /// The chaos run: a cut, a refusal, a hang or an error close every few seconds, each one
    /// recovered, data flowing between, MaxAttempts 100. It used to end Exhausted after ~160 faults;
    /// now 1000 cycles pass, because each session that delivered data restarts MaxAttempts.
    /// </summary>
    [Fact]
    [Trait("Invariant", "Budget.B6")]
    [Trait("Invariant", "Policy.P6")]
    public void Policy_P6_chaos_between_data_never_exhausts()
    {
        var random = new Random(21);
        var h = ActorHarness.Start(o => o
            .WithBackoff(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(30), useJitter: false)
            .WithStableAfter(TimeSpan.FromSeconds(30))
            .WithMaxAttempts(100));
        var faults = new int[4];
        var outages = new List<TimeSpan>();

        for (var cycle = 1; cycle <= 1000; cycle++)
        {
            // A few seconds of data.
            for (var second = 0; second < 3; second++)
            {
                h.Socket.DeliverText("tick");
                h.Advance(TimeSpan.FromSeconds(1));
            }

            var fault = random.Next(4);
            faults[fault]++;
            switch (fault)
            {
                case 0: // a cut
                    h.Socket.Disconnect();
                    break;
                case 1: // refusals while the venue restarts, then a cut
                    for (var i = random.Next(1, 4); i > 0; i--)
                    {
                        h.Connector.Next.Fails(Refused);
                    }

                    h.Socket.Disconnect();
                    break;
                case 2: // a hung handshake (the connect timeout cuts it), then a cut
                    h.Connector.Next.Hangs();
                    h.Socket.Disconnect();
                    break;
                default: // an error close after data
                    h.Socket.DeliverClose(CloseCodes.InternalError, "oops");
                    break;
            }

            h.Pump();
            h.AdvanceUntil(() => h.Now.IsUp || h.Now.IsTerminal, TimeSpan.FromMilliseconds(250));
            Assert.False(h.Now.IsTerminal, $"cycle {cycle}: {h.Now}");
            Assert.Equal(cycle, h.Now.Epoch);
            outages.Add(h.Now.LastOutage ?? TimeSpan.Zero);
            h.Drain();
        }

        Assert.False(h.Now.Exhausted);
        Assert.True(h.Now.IsUp);
        output.WriteLine($"1000 cycles (cuts {faults[0]}, refusals {faults[1]}, hangs {faults[2]}, error closes {faults[3]}), {h.Connector.Attempts} attempts, never exhausted; " +
            $"outage on the manual clock: median {Median(outages).TotalSeconds:0.##} s, max {outages.Max().TotalSeconds:0.##} s (a quarter of the cycles end with the venue's 1011, which keeps counting, " +
            "and refusals add more than the cuts decay, so the backoff still climbs to its cap: the no-hammering rule)");
    }

    /// <summary>
    /// Budget.B7, the lead's figure: continuous transport faults (a FIN cut, a reset, a blackhole the
    /// dead-after timeout finds, refusals while the venue restarts, a hung handshake), each recovered, data
    /// flowing between. Each cut after data decays the count instead of growing it, so the waits stay near
    /// MinBackoff over 1000 cycles instead of climbing to MaxBackoff (the old rule: median 30 s here). The
    /// outage measured is the backoff part: LastOutage less the time the fault itself takes to detect or to
    /// fail (the dead-after bound for a blackhole, the connect timeout for a hang).
    /// </summary>
    [Fact]
    [Trait("Invariant", "Budget.B7")]
    [Trait("Invariant", "Policy.P6")]
    public void Budget_B7_chaos_of_cuts_keeps_outages_near_the_minimum_backoff()
    {
        var minBackoff = TimeSpan.FromMilliseconds(250);
        var deadAfter = TimeSpan.FromSeconds(3);
        var connectTimeout = TimeSpan.FromSeconds(5);
        var random = new Random(2107);
        var h = ActorHarness.Start(o => o
            .WithBackoff(minBackoff, TimeSpan.FromSeconds(30), useJitter: false)
            .WithStableAfter(TimeSpan.FromSeconds(30))
            .WithConnectTimeout(connectTimeout)
            .WithIdleTimeouts(staleAfter: null, deadAfter: deadAfter)
            .WithMaxAttempts(10));
        string[] names = ["FIN cut", "reset", "blackhole", "refusals then cut", "hang then cut"];
        var waits = names.ToDictionary(n => n, _ => new List<TimeSpan>());

        for (var cycle = 1; cycle <= 1000; cycle++)
        {
            for (var second = 0; second < 2; second++)
            {
                h.Socket.DeliverText("tick");
                h.Advance(TimeSpan.FromSeconds(1));
            }

            var fault = random.Next(names.Length);
            var inherent = TimeSpan.Zero;
            var before = h.Now.Epoch;
            switch (fault)
            {
                case 0:
                    h.Socket.Disconnect();
                    break;
                case 1:
                    h.Socket.Fail(TransportException.Connection("connection reset by peer"));
                    break;
                case 2:
                    // Silence: the dead-after bound finds it; DownSince is the last sign of life.
                    inherent = deadAfter;
                    break;
                case 3:
                    for (var i = random.Next(1, 3); i > 0; i--)
                    {
                        h.Connector.Next.Fails(Refused);
                    }

                    h.Socket.Disconnect();
                    break;
                default:
                    inherent = connectTimeout;
                    h.Connector.Next.Hangs();
                    h.Socket.Disconnect();
                    break;
            }

            h.Pump();
            h.AdvanceUntil(() => (h.Now.IsUp && h.Now.Epoch > before) || h.Now.IsTerminal, TimeSpan.FromMilliseconds(50));
            Assert.False(h.Now.IsTerminal, $"cycle {cycle}: {h.Now}");
            waits[names[fault]].Add((h.Now.LastOutage ?? TimeSpan.Zero) - inherent);
            h.Drain();
        }

        var all = waits.Values.SelectMany(w => w).ToList();
        foreach (var (name, list) in waits)
        {
            output.WriteLine($"{name}: {list.Count} cycles, backoff part of the outage median {Median(list).TotalMilliseconds:0} ms, max {list.Max().TotalMilliseconds:0} ms");
        }

        output.WriteLine($"all 1000: median {Median(all).TotalMilliseconds:0} ms, max {all.Max().TotalMilliseconds:0} ms, {h.Connector.Attempts} attempts (MinBackoff {minBackoff.TotalMilliseconds:0} ms, MaxBackoff 30 s)");

        // Near the minimum: the median is at most one MinBackoff. The count is a walk with a downward drift
        // (every cycle's cut takes one off; refusals and hangs, 2 faults in 5, add one or two), so it stays
        // within a few steps of zero: the worst outage is a few seconds (two refusals from a count of two:
        // 500 + 1000 + 2000 ms), far below the 30 s cap the old rule climbed to, and no higher at the end
        // than anywhere else.
        Assert.True(Median(all) <= minBackoff, $"median {Median(all)}");
        Assert.True(all.Max() <= minBackoff * 16, $"max {all.Max()}");
        Assert.True(all.TakeLast(100).Max() <= minBackoff * 16, "the last 100 cycles stay as low as the rest");
        Assert.False(h.Now.Exhausted);
    }

    [Fact]
    [Trait("Invariant", "Budget.B5")]
    public void Clean_close_after_data_reconnects_at_once_and_an_error_close_after_data_backs_off()
    {
        var h = ActorHarness.Start(o => o
            .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8), useJitter: false)
            .WithStableAfter(TimeSpan.FromSeconds(30))
            .WithMaxAttempts(2));

        // 1011 after data, three times: waits of 1, 2, 4 s (the backoff grows), yet never Exhausted (MaxAttempts 2).
        foreach (var wait in new[] { 1, 2, 4 })
        {
            var before = h.Connector.Attempts;
            h.Socket.DeliverText("tick");
            h.Socket.DeliverClose(CloseCodes.InternalError);
            h.Pump();
            h.Advance(TimeSpan.FromSeconds(wait) - TimeSpan.FromTicks(1));
            Assert.Equal(before, h.Connector.Attempts);
            h.Advance(TimeSpan.FromTicks(1));
            Assert.Equal(before + 1, h.Connector.Attempts);
            Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        }

        // 1000 and 1001 after data, however short: at once, and the exponent starts again.
        foreach (var code in new[] { CloseCodes.NormalClosure, CloseCodes.GoingAway })
        {
            var before = h.Connector.Attempts;
            h.Socket.DeliverText("tick");
            h.Socket.DeliverClose(code);
            h.Pump();
            Assert.Equal(before + 1, h.Connector.Attempts);
            Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        }

        var attempts = h.Connector.Attempts;
        h.Socket.DeliverText("tick");
        h.Socket.DeliverClose(CloseCodes.InternalError);
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1) - TimeSpan.FromTicks(1));
        Assert.Equal(attempts, h.Connector.Attempts);
        h.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(attempts + 1, h.Connector.Attempts);
    }

    [Theory]
    [InlineData(CloseCodes.GoingAway)]
    [InlineData(CloseCodes.NormalClosure)]
    [Trait("Invariant", "Budget.B5")]
    [Trait("Invariant", "Budget.B6")]
    public void Accept_then_close_without_data_still_backs_off_and_counts_for_MaxAttempts(int code)
    {
        var h = ActorHarness.Start(o => o
            .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8), useJitter: false)
            .WithStableAfter(TimeSpan.FromSeconds(30))
            .WithMaxAttempts(4));

        foreach (var wait in new[] { 1, 2, 4 })
        {
            var before = h.Connector.Attempts;
            h.Socket.DeliverClose(code, "bye");
            h.Pump();
            Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
            h.Advance(TimeSpan.FromSeconds(wait) - TimeSpan.FromTicks(1));
            Assert.Equal(before, h.Connector.Attempts);
            h.Advance(TimeSpan.FromTicks(1));
            Assert.Equal(before + 1, h.Connector.Attempts);
        }

        // The fourth session without data in a row exhausts MaxAttempts 4.
        h.Socket.DeliverClose(code, "bye");
        h.Pump();
        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
        Assert.True(h.Now.Exhausted);
    }

    [Fact]
    [Trait("Invariant", "Budget.B2")]
    [Trait("Invariant", "Budget.B6")]
    public void Short_1008_sessions_still_end_Unrecoverable_with_or_without_data()
    {
        var classifier = DefaultFailureClassifier.RefinedBy(e => e.CloseCode == CloseCodes.PolicyViolation ? FailureClass.Permanent : null);
        foreach (var withData in new[] { false, true })
        {
            var h = ActorHarness.Start(
                o => o.WithStableAfter(TimeSpan.FromSeconds(30)).WithPermanentRetries(2).WithMaxAttempts(100),
                c =>
                {
                    for (var i = 0; i < 10; i++)
                    {
                        var socket = c.Next.Succeeds();
                        if (withData)
                        {
                            socket.DeliverText("welcome");
                        }

                        socket.DeliverClose(CloseCodes.PolicyViolation, "policy");
                    }
                },
                classifier: classifier);

            h.AdvanceUntil(() => h.Now.IsTerminal, TimeSpan.FromMilliseconds(100));

            Assert.Equal(ConnectionPhase.Unrecoverable, h.Now.Phase);
            Assert.Equal(3, h.Connector.Attempts);
            Assert.Equal(CloseCodes.PolicyViolation, h.Now.LastError?.CloseCode);
        }
    }

    [Fact]
    [Trait("Invariant", "Budget.B4")]
    [Trait("Invariant", "Budget.B5")]
    public async Task Normal_close_classified_Finished_still_finishes_a_short_session_with_data()
    {
        var classifier = DefaultFailureClassifier.RefinedBy(e => e.CloseCode == CloseCodes.NormalClosure ? FailureClass.Finished : null);
        var h = ActorHarness.Start(o => o.WithStableAfter(TimeSpan.FromSeconds(30)), classifier: classifier);
        h.Socket.DeliverText("last");
        h.Advance(TimeSpan.FromSeconds(2));

        h.Socket.DeliverClose(CloseCodes.NormalClosure, "end of replay");
        h.Pump();

        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
        Assert.False(h.Now.Exhausted);
        Assert.Equal(1, h.Connector.Attempts);
        Assert.Equal("last", Assert.Single(h.Drain()).GetText());
        Assert.False(await h.Connection.Source.WaitToReadAsync());
    }

    [Fact]
    [Trait("Invariant", "Budget.B5")]
    public void Session_that_reached_its_lifetime_is_healthy_however_it_ended()
    {
        var h = ActorHarness.Start(o => o
            .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8), useJitter: false)
            .WithStableAfter(TimeSpan.FromSeconds(30))
            .WithSessionLifetime(VenueLifetime));

        // Cut without data or close frame at 19 s: the lifetime less its tolerance (1 s of 20 s). At once.
        h.Advance(TimeSpan.FromSeconds(19));
        h.Socket.Disconnect();
        h.Pump();
        Assert.Equal(2, h.Connector.Attempts);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);

        // Cut at 18 s: short of it, and no data: a failure, the first backoff step.
        h.Advance(TimeSpan.FromSeconds(18));
        h.Socket.Disconnect();
        h.Pump();
        Assert.Equal(2, h.Connector.Attempts);
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(3, h.Connector.Attempts);
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);

        // An error close at the lifetime still counts as healthy: the venue's schedule ended it.
        h.Advance(VenueLifetime);
        h.Socket.DeliverClose(CloseCodes.InternalError);
        h.Pump();
        Assert.Equal(4, h.Connector.Attempts);
    }

    [Fact]
    [Trait("Invariant", "Budget.B6")]
    public void A_forced_reconnect_of_a_session_that_delivered_data_restarts_MaxAttempts()
    {
        var h = ActorHarness.Start(o => o
            .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), useJitter: false)
            .WithStableAfter(TimeSpan.FromSeconds(30))
            .WithMaxAttempts(3));

        for (var round = 0; round < 10; round++)
        {
            // Two refused attempts after a cut of a session without data (three failures would exhaust) ...
            h.Connector.Next.Fails(Refused);
            h.Socket.Disconnect();
            h.Pump();
            h.AdvanceUntil(() => h.Now.IsUp || h.Now.IsTerminal, TimeSpan.FromMilliseconds(500));
            Assert.False(h.Now.IsTerminal, $"round {round}: {h.Now}");

            // ... then data and a forced reconnect: a success for MaxAttempts.
            h.Socket.DeliverText("tick");
            h.Pump();
            var before = h.Connector.Attempts;
            h.Connection.Control.ReconnectTrigger.ForceReconnect("test");
            h.AdvanceUntil(() => h.Connector.Attempts > before && h.Now.IsUp, TimeSpan.FromMilliseconds(500));
        }

        Assert.False(h.Now.IsTerminal);
    }

    private static TimeSpan Median(List<TimeSpan> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
