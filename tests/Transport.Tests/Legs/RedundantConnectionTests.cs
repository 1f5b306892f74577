using System.Diagnostics.Metrics;
using CsCheck;
using Transport.Mock;
using Transport.WebSockets;
using Transport.WebSockets.Legs;

namespace Transport.Tests.Legs;

/// <summary>Redundant legs over Transport.Mock: one scripted leaf, a fake clock, a pumped spawner.</summary>
public sealed class RedundantConnectionTests
{
    private static readonly TransportException Refused = TransportException.Connection("refused");

    [Fact]
    [Trait("Invariant", "Legs.L3")]
    [Trait("Invariant", "Legs.R1")]
    [Trait("Invariant", "Legs.R3")]
    public void L3_every_keyed_frame_is_delivered_once_whatever_the_interleaving_of_the_legs()
    {
        // Both legs carry the same 3 x 40 keyed frames; a random schedule says which leg delivers how many
        // next and when the pump runs (so the legs' batches reach the arbiter in every order).
        var schedule = Gen.Select(Gen.Int[0, 1], Gen.Int[1, 12], Gen.Bool).Array[1, 60];
        Gen.Select(schedule, Gen.Int[2, 3]).Sample((steps, legs) =>
        {
            var h = new LegsHarness(legs);
            string[] topics = ["BTC-USD", "ETH-USD", "SOL-USD"];
            var stream = topics.SelectMany(t => Enumerable.Range(1, 40).Select(s => (Topic: t, Seq: (long)s)))
                .OrderBy(k => k.Seq).ThenBy(k => k.Topic, StringComparer.Ordinal).ToList();
            var cursor = new int[legs];
            var merged = new List<string>();
            foreach (var (which, count, pump) in steps)
            {
                int leg = which % legs;
                for (int i = 0; i < count && cursor[leg] < stream.Count; i++, cursor[leg]++)
                {
                    h.Deliver(LegsHarness.Names[leg], stream[cursor[leg]].Topic, stream[cursor[leg]].Seq);
                }

                if (pump)
                {
                    h.Pump();
                    merged.AddRange(h.DrainTexts());
                }
            }

            for (int leg = 0; leg < legs; leg++)
            {
                for (; cursor[leg] < stream.Count; cursor[leg]++)
                {
                    h.Deliver(LegsHarness.Names[leg], stream[cursor[leg]].Topic, stream[cursor[leg]].Seq);
                }
            }

            h.Pump();
            merged.AddRange(h.DrainTexts());

            // Each key exactly once, and per topic in sequence order (every leg delivers in order).
            Assert.Equal(stream.Select(k => TextKeys.Key(k.Topic, k.Seq)).Order(StringComparer.Ordinal), merged.Order(StringComparer.Ordinal));
            foreach (var topic in topics)
            {
                var seqs = merged.Where(m => m.StartsWith(topic, StringComparison.Ordinal)).Select(m => long.Parse(m[(topic.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
                Assert.Equal(seqs.Order(), seqs);
            }

            var now = h.Redundant.Current;
            Assert.Equal(stream.Count, now.Wins);
            Assert.Equal(stream.Count * (legs - 1), now.Duplicates);
            Assert.All(now.Legs, l => Assert.Equal(stream.Count, l.Wins + l.Duplicates));
            Assert.Equal(0, h.Aggregate.Epoch);
        }, iter: 150);
    }

    [Fact]
    [Trait("Invariant", "Legs.L3")]
    [Trait("Invariant", "Legs.A1")]
    public void L3_a_leg_dying_during_the_overlap_loses_nothing_the_other_carried()
    {
        var h = new LegsHarness();
        var history = Record(h.Redundant.Lifecycle);
        h.Deliver("a", "BTC", LegsHarness.Range(1, 30));
        h.Pump();
        h.Deliver("b", "BTC", LegsHarness.Range(1, 20));           // b runs 10 behind
        h.Pump();

        var cut = h.Clock.GetUtcNow();
        // a dies while b is still catching up. With the venue's error close, not a bare cut: a cut after data
        // decays the failure count (Budget.B7) and would reconnect a at once, without the backoff this script steps.
        h.Socket("a").DeliverClose(CloseCodes.InternalError, "leg a fails");
        h.Pump();
        var degraded = h.Redundant.Current;
        Assert.True(degraded.IsDegraded, degraded.ToString());
        Assert.Equal(cut, degraded.DegradedSince);
        Assert.Equal(1, degraded.Primary);

        h.Deliver("b", "BTC", LegsHarness.Range(21, 60));
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1));                         // a's backoff: a new socket, resubscribed
        Assert.Equal(2, h.Sockets("a").Count);
        h.Deliver("a", "BTC", LegsHarness.Range(55, 70));           // the venue resumes a at its current sequence
        h.Pump();
        h.Deliver("b", "BTC", LegsHarness.Range(61, 70));
        h.Pump();

        Assert.Equal(LegsHarness.Range(1, 70).Select(s => $"BTC:{s}"), h.DrainTexts());
        var now = h.Redundant.Current;
        Assert.Equal((40L, 6L), (now.Legs[0].Wins, now.Legs[0].Duplicates));
        Assert.Equal((30L, 40L), (now.Legs[1].Wins, now.Legs[1].Duplicates));
        Assert.False(now.IsDegraded);

        // The aggregate never went down and its epoch never moved: no gap to report.
        Assert.All(history.Skip(1), s => Assert.True(s.IsUp, s.ToString()));
        Assert.All(history, s => Assert.Equal(0, s.Epoch));
    }

    [Fact]
    [Trait("Invariant", "Legs.A2")]
    [Trait("Invariant", "Legs.L5")]
    public void A2_both_legs_cut_at_once_take_the_aggregate_down_and_its_next_up_edge_advances_the_epoch()
    {
        var h = new LegsHarness();
        var history = Record(h.Redundant.Lifecycle);
        h.Advance(TimeSpan.FromSeconds(3));
        var cut = h.Clock.GetUtcNow();
        h.Socket("a").Disconnect();
        h.Socket("b").Disconnect();
        h.Pump();

        Assert.Equal((ConnectionPhase.Reconnecting, 0L, cut), (h.Aggregate.Phase, h.Aggregate.Epoch, h.Aggregate.DownSince!.Value));
        Assert.False(h.Redundant.Current.IsDegraded);               // down, not degraded

        h.Advance(TimeSpan.FromSeconds(1));                         // both backoffs run out together
        Assert.Equal((ConnectionPhase.Resumed, 1L), (h.Aggregate.Phase, h.Aggregate.Epoch));
        Assert.Equal(TimeSpan.FromSeconds(1), h.Aggregate.LastOutage);
        Assert.Equal(cut + TimeSpan.FromSeconds(1), h.Aggregate.UpSince);
        Assert.Equal(4, h.Aggregate.Attempts);                      // 2 per leg, summed
        Assert.All(h.Redundant.Legs, l => Assert.Equal(1, l.Lifecycle.Current.Epoch));

        h.Deliver("a", "BTC", 7);
        h.Pump();
        Assert.Equal(1, Assert.Single(h.Drain()).Epoch);            // the aggregate's epoch, not the leg's

        Assert.Equal(
            [ConnectionPhase.Connected, ConnectionPhase.Reconnecting, ConnectionPhase.Resumed],
            history.Select(s => s.Phase).Distinct());
        Assert.Equal(history.Select(s => s.Version).Order(), history.Select(s => s.Version));
    }

    [Fact]
    [Trait("Invariant", "Legs.L1")]
    public void L1_legs_failing_together_share_the_connectors_attempt_gate()
    {
        // Cap: 4 attempts per minute for the connector. Alone, each leg's backoff (1, 2, 4, 8, 16, 30 s)
        // would attempt 6 times in the first minute: 12 for two legs, 18 for three.
        var h = new LegsHarness(
            legs: 3,
            configure: o => o.WithAttemptRateLimit(4, TimeSpan.FromMinutes(1)),
            script: c => c.DefaultOutcome = AttemptOutcome.Fail(Refused));
        for (int s = 0; s < 59; s++)
        {
            h.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(4, h.Leaf.Attempts);
        Assert.Equal(ConnectionPhase.Connecting, h.Aggregate.Phase);
        Assert.Equal(4, h.Aggregate.Attempts);
        Assert.Equal(["a", "b", "c"], h.Leaf.Handshakes.Take(3).Select(r => r.Uri.Host[..1]).Order(StringComparer.Ordinal));

        h.Leaf.DefaultOutcome = AttemptOutcome.Succeed;
        for (int s = 0; s < 60; s++)
        {
            h.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.True(h.Leaf.Attempts <= 8, $"{h.Leaf.Attempts} attempts in two minutes under a cap of 4 per minute");
        Assert.True(h.Aggregate.IsUp, h.Aggregate.ToString());
    }

    [Fact]
    [Trait("Invariant", "Legs.L2")]
    public void L2_each_leg_connects_to_its_own_endpoint_with_its_own_auth_and_initializer_after_the_connectors()
    {
        var login = SessionInitializers.From((ctx, ct) => ctx.Sink.SendAsync(Frame.Text($"hello:{ctx.Epoch}"), ct));
        var h = new LegsHarness(login: login, options: o => o with
        {
            Legs = [.. o.Legs.Select(l => l with { Auth = AuthSources.From((r, _, _) => { r.Headers["X-Leg-Key"] = "key-" + l.Name; return ValueTask.CompletedTask; }) })],
        });

        var byHost = h.Leaf.Handshakes.ToDictionary(r => r.Uri.Host, r => r.Headers["X-Leg-Key"]);
        Assert.Equal(new Dictionary<string, string> { ["a.venue.test"] = "key-a", ["b.venue.test"] = "key-b" }, byHost);
        Assert.Equal(["hello:0", "login:a:0"], h.Socket("a").SentTexts);
        Assert.Equal(["hello:0", "login:b:0"], h.Socket("b").SentTexts);
        Assert.Equal(["feed.a", "feed.b"], h.Redundant.Legs.Select(l => l.Connection.Name));

        h.Socket("b").Disconnect();
        h.Pump();
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["hello:1", "login:b:1"], h.Socket("b").SentTexts);   // only b's initializer ran again
        Assert.Single(h.Sockets("a"));
    }

    [Fact]
    [Trait("Invariant", "Legs.S1")]
    public void S1_sends_go_to_the_primary_and_fail_over_when_its_socket_ends_before_the_write()
    {
        var h = new LegsHarness();
        var sent = h.OnPump(() => h.Redundant.Sink.SendAsync(Frame.Text("order-1")).AsTask());
        h.Pump();
        Assert.True(sent.IsCompletedSuccessfully);
        Assert.Contains("order-1", h.Socket("a").SentTexts);
        Assert.DoesNotContain("order-1", h.Socket("b").SentTexts);

        // a's writes hang; a dies with order-2 unwritten: it goes out on b.
        var a = h.Socket("a");
        a.SendBehavior = SendBehavior.Hang;
        var failover = h.OnPump(() => h.Redundant.Sink.SendAsync(Frame.Text("order-2")).AsTask());
        h.Pump();
        Assert.False(failover.IsCompleted);
        a.Disconnect();
        h.Pump();
        Assert.True(failover.IsCompletedSuccessfully, failover.Exception?.ToString());
        Assert.Contains("order-2", h.Socket("b").SentTexts);
        Assert.DoesNotContain("order-2", a.SentTexts);
        Assert.Equal(1, h.Redundant.SendFailovers);

        // While a is down, b is the primary.
        var direct = h.OnPump(() => h.Redundant.Sink.SendAsync(Frame.Text("order-3")).AsTask());
        h.Pump();
        Assert.True(direct.IsCompletedSuccessfully);
        Assert.Contains("order-3", h.Socket("b").SentTexts);
        Assert.Equal(1, h.Redundant.Current.Primary);

        // Back: a is the primary again.
        h.Advance(TimeSpan.FromSeconds(1));
        var back = h.OnPump(() => h.Redundant.Sink.SendAsync(Frame.Text("order-4")).AsTask());
        h.Pump();
        Assert.True(back.IsCompletedSuccessfully);
        Assert.Contains("order-4", h.Socket("a").SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Legs.S1")]
    public void S1_a_send_while_no_leg_is_up_waits_for_the_first_leg_to_come_up()
    {
        var h = new LegsHarness(script: c => { c.Next.Fails(Refused); c.Next.Fails(Refused); });
        Assert.Equal(ConnectionPhase.Connecting, h.Aggregate.Phase);
        var waiting = h.OnPump(() => h.Redundant.Sink.SendAsync(Frame.Text("first")).AsTask());
        h.Pump();
        Assert.False(waiting.IsCompleted);

        h.Advance(TimeSpan.FromSeconds(1));
        Assert.True(waiting.IsCompletedSuccessfully, waiting.Exception?.ToString());
        Assert.Contains("first", h.Socket("a").SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Legs.S2")]
    public void S2_a_send_pinned_to_an_aggregate_epoch_fails_stale_once_every_leg_went_down()
    {
        var h = new LegsHarness();
        Assert.Equal(SendStatus.Accepted, h.Redundant.Sink.TrySend(Frame.Text("p0"), SendOptions.PinnedTo(0)));
        h.Socket("a").Disconnect();
        h.Pump();
        Assert.Equal(SendStatus.Accepted, h.Redundant.Sink.TrySend(Frame.Text("p0-b"), SendOptions.PinnedTo(0)));   // still epoch 0 on b

        h.Socket("b").Disconnect();
        h.Pump();
        Assert.Equal(SendStatus.StaleEpoch, h.Redundant.Sink.TrySend(Frame.Text("late"), SendOptions.PinnedTo(0)));
        var pinned = h.Redundant.Sink.SendAsync(Frame.Text("late"), SendOptions.PinnedTo(0)).AsTask();
        Assert.Equal(TransportErrorKind.StaleEpoch, Assert.IsType<TransportException>(pinned.Exception!.InnerException).Kind);

        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, h.Aggregate.Epoch);
        Assert.Equal(SendStatus.StaleEpoch, h.Redundant.Sink.TrySend(Frame.Text("late"), SendOptions.PinnedTo(0)));
        Assert.Equal(SendStatus.Accepted, h.Redundant.Sink.TrySend(Frame.Text("p1"), SendOptions.PinnedTo(1)));
        h.Pump();
        Assert.DoesNotContain(h.Leaf.Sockets, s => s.SentTexts.Contains("late"));
        Assert.Contains("p1", h.Socket("a").SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Legs.S3")]
    public void S3_try_send_with_no_leg_up_is_queued_on_the_first_leg_for_its_next_socket()
    {
        var h = new LegsHarness();
        h.Socket("a").Disconnect();
        h.Socket("b").Disconnect();
        h.Pump();
        Assert.Equal(SendStatus.Accepted, h.Redundant.Sink.TrySend(Frame.Text("queued")));
        Assert.Equal(1, h.Redundant.Sink.QueuedFrames);

        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["login:a:1", "queued"], h.Socket("a").SentTexts);
        Assert.DoesNotContain("queued", h.Socket("b").SentTexts);
    }

    [Fact]
    [Trait("Invariant", "Legs.S4")]
    public async Task S4_send_to_all_writes_on_every_leg_up_and_says_how_many()
    {
        var h = new LegsHarness(legs: 3);
        var all = h.OnPump(() => h.Redundant.SendToAllAsync(Frame.Text("sub:ETH")).AsTask());
        h.Pump();
        Assert.Equal(3, await all);
        Assert.All(LegsHarness.Names.Take(3), leg => Assert.Contains("sub:ETH", h.Socket(leg).SentTexts));

        h.Socket("b").Disconnect();
        h.Pump();
        var some = h.OnPump(() => h.Redundant.SendToAllAsync(Frame.Text("sub:SOL")).AsTask());
        h.Pump();
        Assert.Equal(2, await some);
        Assert.Equal(2, h.Redundant.TrySendToAll(Frame.Text("sub:ADA")));
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["login:b:1"], h.Socket("b").SentTexts);      // b's new socket got nothing: its initializer owns it
        Assert.Contains("sub:ADA", h.Socket("c").SentTexts);
    }

    [Theory]
    [Trait("Invariant", "Legs.R2")]
    [InlineData(UnkeyedFramePolicy.PrimaryOnly)]
    [InlineData(UnkeyedFramePolicy.All)]
    public void R2_unkeyed_frames_come_from_the_primary_only_unless_asked_for_all(UnkeyedFramePolicy policy)
    {
        var h = new LegsHarness(options: o => o with { Unkeyed = policy });
        h.Socket("a").DeliverText("pong from a");
        h.Socket("b").DeliverText("pong from b");
        h.Pump();
        var expected = policy == UnkeyedFramePolicy.All ? new[] { "pong from a", "pong from b" } : ["pong from a"];
        Assert.Equal(expected, h.DrainTexts().Order(StringComparer.Ordinal));
        Assert.Equal(policy == UnkeyedFramePolicy.All ? 0 : 1, h.Redundant.Current.Legs[1].UnkeyedDropped);

        h.Socket("a").DeliverClose(CloseCodes.InternalError, "leg a fails"); // an error close keeps a down for its backoff (Budget.B7: a bare cut would not)
        h.Pump();
        h.Socket("b").DeliverText("pong from b again");             // b is the primary now
        h.Pump();
        Assert.Equal(["pong from b again"], h.DrainTexts());
    }

    [Fact]
    [Trait("Invariant", "Legs.R2")]
    public void R2_without_a_key_selector_the_merged_source_is_the_primary_legs_frames()
    {
        var h = new LegsHarness(options: o => o with { KeySelector = null });
        h.Deliver("a", "BTC", 1, 2);
        h.Deliver("b", "BTC", 1, 2);
        h.Pump();
        Assert.Equal(["BTC:1", "BTC:2"], h.DrainTexts());
        Assert.Equal(0, h.Redundant.Current.WindowKeys);
        Assert.Equal(2, h.Redundant.Current.Legs[1].UnkeyedDropped);
    }

    [Fact]
    [Trait("Invariant", "Legs.R4")]
    public void R4_a_selector_that_throws_makes_the_frame_unkeyed_and_the_leg_carries_on()
    {
        FrameKeySelector selector = (in Frame f, out DedupeKey key) =>
            f.GetText() == "boom" ? throw new FormatException("bad frame") : TextKeys.Selector(in f, out key);
        var h = new LegsHarness(options: o => o with { KeySelector = selector });
        h.Socket("a").DeliverText("boom");
        h.Socket("b").DeliverText("boom");
        h.Deliver("a", "BTC", 1);
        h.Deliver("b", "BTC", 1, 2);
        h.Pump();

        Assert.Equal(["BTC:1", "BTC:2", "boom"], h.DrainTexts().Order(StringComparer.Ordinal));
        Assert.Equal(1, h.Redundant.Current.Legs[1].UnkeyedDropped);
        Assert.True(h.Aggregate.IsUp);
    }

#if DEBUG
    [Fact]
    [Trait("Invariant", "Legs.L4")]
    public void L4_lease_mode_every_dropped_copy_is_released_exactly_once_and_delivered_ones_are_the_consumers()
    {
        // A pool of the test's own with the Debug tracker (ADR 0013): it counts every hold and records any
        // double release or read after release; quarantine keeps a released lease from being reused.
        var tracker = new LeaseTracker { Quarantine = true };
        var pool = new PayloadLeasePool { Tracker = tracker };
        var h = new LegsHarness(wrapLeaf: leaf => new Transport.Tests.Pool.LeasingConnector(leaf, pool), options: o => o with { MergedCapacityFrames = 8 });
        foreach (var leg in new[] { "a", "b" })
        {
            h.Deliver(leg, "BTC", LegsHarness.Range(1, 5));
            h.Socket(leg).DeliverText("unkeyed");
            h.Pump();
        }

        var delivered = h.Drain();
        Assert.Equal(6, delivered.Count);
        Assert.All(delivered, f => Assert.True(f.IsLeased));
        Assert.Equal(12, tracker.Rented);
        Assert.Equal(6, tracker.Released);                          // 5 duplicates + b's unkeyed frame, by the arbiter
        foreach (var frame in delivered)
        {
            frame.Release();
        }

        Assert.Equal(0, tracker.Outstanding);

        // Beyond the merged bound (8): the merged source evicts and releases what it drops (Ring.I12).
        h.Deliver("a", "BTC", LegsHarness.Range(6, 20));
        h.Pump();
        var kept = h.Drain();
        Assert.Equal(8, kept.Count);
        Assert.Equal(7, h.Aggregate.TotalLagged);
        kept.ForEach(f => f.Release());
        Assert.Equal(0, tracker.Outstanding);
        Assert.Equal((0L, 0L), (tracker.DoubleReleases, tracker.UsesAfterRelease));
    }
#endif

    [Fact]
    [Trait("Invariant", "Legs.L6")]
    public void L6_force_reconnect_rolls_the_legs_one_at_a_time_and_the_aggregate_never_goes_down()
    {
        var h = new LegsHarness(configure: o => o.WithStableAfter(TimeSpan.Zero));
        var history = Record(h.Redundant.Lifecycle);
        h.Redundant.Control.ReconnectTrigger.ForceReconnect("rotation");
        h.Pump();

        Assert.Equal(2, h.Sockets("a").Count);
        Assert.Equal(2, h.Sockets("b").Count);
        Assert.All(h.Redundant.Legs, l => Assert.Equal((ConnectionPhase.Resumed, 1L), (l.Lifecycle.Current.Phase, l.Lifecycle.Current.Epoch)));
        Assert.All(history.Skip(1), s => Assert.True(s.IsUp, s.ToString()));
        Assert.Equal((ConnectionPhase.Connected, 0L), (h.Aggregate.Phase, h.Aggregate.Epoch));
    }

    [Fact]
    [Trait("Invariant", "Legs.L6")]
    public void L6_a_leg_is_reconnected_only_once_another_leg_carries_the_feed()
    {
        var h = new LegsHarness();
        h.Socket("b").Disconnect();                                 // b down for its 1 s backoff
        h.Pump();
        h.Redundant.Control.ReconnectTrigger.ForceReconnect("rotation");
        h.Pump();
        Assert.Single(h.Sockets("a"));                              // a waits: it is the only leg up

        h.Advance(TimeSpan.FromSeconds(1));                         // b is back: now a rolls
        Assert.Equal(2, h.Sockets("a").Count);
        Assert.True(h.Aggregate.IsUp);
        Assert.Equal(0, h.Aggregate.Epoch);
    }

    [Fact]
    [Trait("Invariant", "Legs.L7")]
    public async Task L7_shutdown_closes_every_leg_ends_the_source_and_completes_the_lifecycle()
    {
        var h = new LegsHarness();
        var history = Record(h.Redundant.Lifecycle);
        h.Deliver("a", "BTC", 1);
        h.Pump();
        await h.Spawner.RunUntilCompleted(h.Redundant.DisposeAsync());

        Assert.Equal(ConnectionPhase.Closed, h.Aggregate.Phase);
        Assert.True(h.Redundant.Lifecycle.Completion.IsCompletedSuccessfully);
        Assert.All(h.Redundant.Legs, l => Assert.Equal(ConnectionPhase.Closed, l.Lifecycle.Current.Phase));
        Assert.Equal(["BTC:1"], h.DrainTexts());                    // buffered frames stay readable...
        Assert.False(await h.Redundant.Source.WaitToReadAsync());   // ...then the source ends
        Assert.DoesNotContain(history, s => s.Phase == ConnectionPhase.Reconnecting);   // no down-edge on the way (Legs.A4)
        Assert.Equal(h.Aggregate, history[^1]);
    }

    [Fact]
    [Trait("Invariant", "Legs.A4")]
    public async Task A4_the_aggregate_is_unrecoverable_only_when_every_leg_is_and_the_source_then_throws()
    {
        var classifier = DefaultFailureClassifier.RefinedBy(e => e.CloseCode == 4003 ? FailureClass.Permanent : null);
        var h = new LegsHarness(configure: o => o.WithPermanentRetries(0), classifier: classifier);
        var legs = h.Redundant;

        h.Socket("a").DeliverClose(4003, "key revoked");
        h.Pump();
        Assert.True(legs.Lifecycle.Current.IsUp);
        Assert.Equal(ConnectionPhase.Unrecoverable, legs.Legs[0].Lifecycle.Current.Phase);
        Assert.True(legs.Current.IsDegraded);

        h.Socket("b").DeliverText("BTC:1");
        h.Socket("b").DeliverClose(4003, "key revoked");
        h.Pump();
        Assert.Equal(ConnectionPhase.Unrecoverable, legs.Lifecycle.Current.Phase);
        Assert.True(legs.Lifecycle.Completion.IsCompleted);
        Assert.True(legs.Source.TryRead(out var last));
        Assert.Equal("BTC:1", last.GetText());
        var error = await Assert.ThrowsAsync<TransportException>(() => legs.Source.WaitToReadAsync().AsTask());
        Assert.Equal(4003, error.CloseCode);
        await h.Spawner.RunUntilCompleted(h.Redundant.DisposeAsync());
    }

    [Fact]
    [Trait("Invariant", "Legs.L5")]
    public void L5_a_frame_of_a_legs_new_socket_brings_the_aggregate_up_before_it_is_released()
    {
        var h = new LegsHarness();
        h.Socket("a").Disconnect();
        h.Socket("b").Disconnect();
        h.Pump();
        Assert.Equal(ConnectionPhase.Reconnecting, h.Aggregate.Phase);
        h.Advance(TimeSpan.FromSeconds(1));

        LifecycleSnapshot? seenWithFrame = null;
        h.Deliver("a", "BTC", 1);
        h.Pump();
        Assert.True(h.Redundant.Source.TryRead(out var frame));
        seenWithFrame = h.Redundant.Lifecycle.Current;
        Assert.True(seenWithFrame.IsUp);
        Assert.Equal(seenWithFrame.Epoch, frame.Epoch);
    }

    [Fact]
    public void Metrics_count_wins_duplicates_and_lag_per_leg_and_legs_up()
    {
        using var meter = new Meter("legs-test-" + Guid.NewGuid());
        var measurements = new List<(string Name, double Value, string? Leg)>();
        using var listener = new MeterListener { InstrumentPublished = (i, l) => { if (ReferenceEquals(i.Meter, meter)) l.EnableMeasurementEvents(i); } };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Add((i.Name, v, LegOf(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measurements.Add((i.Name, v, LegOf(tags))));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => measurements.Add((i.Name, v, LegOf(tags))));
        listener.Start();

        var h = new LegsHarness(meter: meter);
        h.Deliver("a", "BTC", LegsHarness.Range(1, 5));
        h.Pump();
        h.Clock.Advance(TimeSpan.FromMilliseconds(3));
        h.Deliver("b", "BTC", LegsHarness.Range(1, 6));
        h.Pump();
        listener.RecordObservableInstruments();

        double Sum(string name, string leg) => measurements.Where(m => m.Name == name && m.Leg == leg).Sum(m => m.Value);
        Assert.Equal(5, Sum(LegsTelemetry.FramesWon, "a"));
        Assert.Equal(1, Sum(LegsTelemetry.FramesWon, "b"));
        Assert.Equal(5, Sum(LegsTelemetry.FramesDuplicate, "b"));
        Assert.Equal(0.003, Assert.Single(measurements, m => m.Name == LegsTelemetry.Behind).Value, 6);
        Assert.Equal(2, measurements.Last(m => m.Name == LegsTelemetry.LegsUp).Value);
        Assert.Equal(6, measurements.Last(m => m.Name == LegsTelemetry.WindowKeys).Value);
        Assert.InRange(h.Redundant.Current.Legs[1].Behind, TimeSpan.FromMilliseconds(0.5), TimeSpan.FromMilliseconds(1.5));   // moving average after 5 copies 3 ms late

        static string? LegOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == LegsTelemetry.LegTag)
                {
                    return (string?)tag.Value;
                }
            }

            return null;
        }
    }

    [Fact]
    public void The_aggregate_can_be_handed_to_code_written_for_one_connection()
    {
        var h = new LegsHarness();
        ReconnectingConnection connection = h.Redundant.Connection;
        Assert.Equal("feed", connection.Name);
        Assert.Same(h.Redundant.Source, connection.Source);
        Assert.Same(h.Redundant.Lifecycle, connection.Lifecycle);
        Assert.Equal(h.Redundant.Legs[0].Session, connection.Session);
        Assert.Contains("2/2 up", h.Redundant.ToString(), StringComparison.Ordinal);
    }

    // Every aggregate snapshot in version order (a waiter sees each one, none coalesced away).
    private static List<LifecycleSnapshot> Record(ILifecycleChannel lifecycle)
    {
        var seen = new List<LifecycleSnapshot>();
        _ = lifecycle.WaitAsync(s =>
        {
            lock (seen)
            {
                seen.Add(s);
            }

            return s.IsTerminal;
        });
        return seen;
    }
}
