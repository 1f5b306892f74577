using System.Runtime.InteropServices;
using Transport;
using Transport.Tests.Buffering;
using Transport.Tests.Telemetry;
using Transport.WebSockets.FanOut;

namespace Transport.Tests.FanOut;

/// <summary>The fan-out's rules, one script each: publish to the source, pump, assert.</summary>
public sealed class FrameFanOutTests
{
    [Fact]
    [Trait("Invariant", "FanOut.F1")]
    public void F1_each_subscriber_conserves_offered_frames()
    {
        var h = new FanOutHarness();
        var small = h.FanOut.Subscribe(new FanOutSubscriberOptions { Name = "small", CapacityFrames = 3 });
        var all = h.FanOut.Subscribe(new FanOutSubscriberOptions { Name = "all" });
        h.Start();

        h.Publish(0, 10);
        Assert.Equal([7, 8, 9], FanOutHarness.Drain(small));
        h.Publish(10, 2);

        var s = small.Stats;
        Assert.Equal((12L, 3L, 7L, 2), (s.Offered, s.Delivered, s.Dropped, s.Buffered));
        FanOutHarness.AssertConserved(small);
        var a = all.Stats;
        Assert.Equal((12L, 0L, 0L, 12), (a.Offered, a.Delivered, a.Dropped, a.Buffered));
        FanOutHarness.AssertConserved(all);
    }

    [Fact]
    [Trait("Invariant", "FanOut.F2")]
    public void F2_each_queue_keeps_its_own_count_and_byte_bounds()
    {
        var h = new FanOutHarness();
        var byCount = h.FanOut.Subscribe(new FanOutSubscriberOptions { CapacityFrames = 4 });
        var byBytes = h.FanOut.Subscribe(new FanOutSubscriberOptions { CapacityBytes = 100 });
        h.Start();

        h.Publish(0, 20, size: 30);
        Assert.Equal(4, byCount.Count);
        Assert.Equal(3, byBytes.Count);            // 3 x 30 B <= 100 B
        Assert.True(byBytes.BufferedBytes <= 100);

        h.Publish(100, 1, size: 500);               // larger than the whole budget: admitted alone
        Assert.Equal(1, byBytes.Count);
        Assert.Equal(500, byBytes.BufferedBytes);
        Assert.Equal(4, byCount.Count);
    }

    [Fact]
    [Trait("Invariant", "FanOut.F3")]
    public void F3_a_stalled_subscriber_drops_for_itself_while_the_others_get_every_frame()
    {
        var h = new FanOutHarness(sourceFrames: 8);
        var stalled = h.FanOut.Subscribe(new FanOutSubscriberOptions { Name = "stalled", CapacityFrames = 2 });
        var live = h.FanOut.Subscribe(new FanOutSubscriberOptions { Name = "live" });
        h.Start();

        var received = new List<int>();
        for (int round = 0; round < 50; round++)
        {
            h.Publish(round * 8, 8);               // a full source ring each round: the pump drains it every time
            received.AddRange(FanOutHarness.Drain(live));
        }

        Assert.Equal(Enumerable.Range(0, 400), received);
        Assert.Equal(0, h.SourceRing.TotalLagged);  // the source never backed up behind the stalled subscriber
        Assert.Equal(398, stalled.Stats.Dropped);
        Assert.Equal([398, 399], FanOutHarness.Drain(stalled));
    }

    [Fact]
    [Trait("Invariant", "FanOut.F4")]
    public void F4_subscribers_share_the_same_frame_in_source_order_without_copies()
    {
        var h = new FanOutHarness();
        var evens = h.FanOut.Subscribe(new FanOutSubscriberOptions { Filter = f => RingFrames.IdOf(f) % 2 == 0 });
        var all = h.FanOut.Subscribe();
        h.Start();

        var sent = RingFrames.Numbered(42, size: 64).WithEpoch(7).WithReceivedAt(12345);
        h.Publish(sent);
        h.Publish(1, 5);

        Assert.True(evens.TryRead(out Frame a));
        Assert.True(all.TryRead(out Frame b));
        Assert.True(MemoryMarshal.TryGetArray(sent.Payload, out ArraySegment<byte> original));
        Assert.True(MemoryMarshal.TryGetArray(a.Payload, out ArraySegment<byte> first));
        Assert.True(MemoryMarshal.TryGetArray(b.Payload, out ArraySegment<byte> second));
        Assert.Same(original.Array, first.Array);
        Assert.Same(original.Array, second.Array);
        Assert.Equal((7L, 12345L), (a.Epoch, a.ReceivedAt));
        Assert.Equal([2, 4], FanOutHarness.Drain(evens));
        Assert.Equal([1, 2, 3, 4, 5], FanOutHarness.Drain(all));
        Assert.Equal(3, evens.Stats.FilteredOut);
    }

    [Fact]
    [Trait("Invariant", "FanOut.F5")]
    public async Task F5_subscribers_attach_and_detach_mid_stream()
    {
        var h = new FanOutHarness();
        var first = h.FanOut.Subscribe();
        h.Start();
        h.Publish(0, 3);

        var late = h.FanOut.Subscribe();
        h.Publish(3, 3);
        await first.DisposeAsync();
        h.Publish(6, 3);

        Assert.True(first.IsDetached);
        Assert.Equal([0, 1, 2, 3, 4, 5], FanOutHarness.Drain(first));   // buffered frames stay readable
        Assert.False(await first.WaitToReadAsync());                       // then the enumeration ends
        Assert.Equal([3, 4, 5, 6, 7, 8], FanOutHarness.Drain(late));
        Assert.Single(h.FanOut.Subscribers);
        Assert.Equal(6, first.Stats.Offered);
        FanOutHarness.AssertConserved(first);
    }

    [Fact]
    [Trait("Invariant", "FanOut.F5")]
    public void F5_frames_read_without_subscribers_are_counted_as_unrouted()
    {
        var h = new FanOutHarness();
        h.Start();
        h.Publish(0, 4);
        var sub = h.FanOut.Subscribe();
        h.Publish(4, 1);

        Assert.Equal(4, h.FanOut.Unrouted);
        Assert.Equal(5, h.FanOut.FramesRead);
        Assert.Equal([4], FanOutHarness.Drain(sub));
    }

    [Fact]
    [Trait("Invariant", "FanOut.F6")]
    public async Task F6_a_normal_end_reaches_every_subscriber_after_its_buffered_frames()
    {
        var h = new FanOutHarness();
        var sub = h.FanOut.Subscribe();
        h.Start();
        h.Publish(0, 2);
        h.SourceRing.Complete();
        h.Spawner.RunUntilIdle();

        var ids = new List<int>();
        await foreach (Frame frame in sub)
        {
            ids.Add(RingFrames.IdOf(frame));
        }

        Assert.Equal([0, 1], ids);
        Assert.True(h.FanOut.Completion.IsCompletedSuccessfully);
        var late = h.FanOut.Subscribe();
        Assert.True(late.IsDetached);
        Assert.False(await late.WaitToReadAsync());
    }

    [Fact]
    [Trait("Invariant", "FanOut.F6")]
    public async Task F6_a_terminal_error_is_thrown_by_every_subscriber_after_its_buffered_frames()
    {
        var h = new FanOutHarness();
        var a = h.FanOut.Subscribe();
        var b = h.FanOut.Subscribe();
        h.Start();
        h.Publish(0, 1);
        var error = TransportException.Auth(401);
        h.SourceRing.Complete(error);
        h.Spawner.RunUntilIdle();

        Assert.Equal([0], FanOutHarness.Drain(a));
        Assert.Same(error, await Assert.ThrowsAsync<TransportException>(async () => await a.WaitToReadAsync()));
        Assert.Equal([0], FanOutHarness.Drain(b));
        Assert.Same(error, await Assert.ThrowsAsync<TransportException>(async () => await b.WaitToReadAsync()));
        var late = h.FanOut.Subscribe();
        Assert.Same(error, await Assert.ThrowsAsync<TransportException>(async () => await late.WaitToReadAsync()));
    }

    [Fact]
    [Trait("Invariant", "FanOut.F7")]
    public async Task F7_a_throwing_filter_detaches_only_its_subscriber_and_is_logged_by_type()
    {
        var logs = new CapturingLoggerFactory();
        var h = new FanOutHarness(logger: logs.CreateLogger("fanout"));
        var faulty = h.FanOut.Subscribe(new FanOutSubscriberOptions
        {
            Name = "faulty",
            Filter = f => RingFrames.IdOf(f) == 2 ? throw new FormatException("secret-token-in-payload") : true,
        });
        var healthy = h.FanOut.Subscribe(new FanOutSubscriberOptions { Name = "healthy" });
        h.Start();

        h.Publish(0, 5);

        Assert.Equal([0, 1], FanOutHarness.Drain(faulty));
        var thrown = await Assert.ThrowsAsync<FanOutFilterException>(async () => await faulty.WaitToReadAsync());
        Assert.IsType<FormatException>(thrown.InnerException);
        Assert.DoesNotContain("secret", thrown.Message, StringComparison.Ordinal);
        Assert.Equal([0, 1, 2, 3, 4], FanOutHarness.Drain(healthy));
        Assert.False(h.FanOut.Completion.IsCompleted);     // the pump carries on
        FanOutHarness.AssertConserved(faulty);

        var entry = Assert.Single(logs.Entries);
        Assert.Contains("FormatException", entry.Message, StringComparison.Ordinal);
        Assert.All(entry.Renderings(), r => Assert.DoesNotContain("secret", r, StringComparison.Ordinal));
    }

    [Fact]
    [Trait("Invariant", "FanOut.F8")]
    public void F8_drop_newest_keeps_the_buffered_prefix_and_counts_rejections()
    {
        var h = new FanOutHarness();
        var keep = h.FanOut.Subscribe(new FanOutSubscriberOptions { CapacityFrames = 3, DropPolicy = FanOutDropPolicy.DropNewest });
        var bytes = h.FanOut.Subscribe(new FanOutSubscriberOptions { CapacityBytes = 10, DropPolicy = FanOutDropPolicy.DropNewest });
        h.Start();

        h.Publish(0, 6, size: 4);
        Assert.Equal([0, 1, 2], FanOutHarness.Drain(keep));
        Assert.Equal(3, keep.Stats.Dropped);
        Assert.Equal([0, 1], FanOutHarness.Drain(bytes));      // 2 x 4 B fit in 10 B, the third does not

        h.Publish(10, 1, size: 50);                             // empty queue: admitted though larger than the budget
        Assert.Equal([10], FanOutHarness.Drain(bytes));
        FanOutHarness.AssertConserved(keep);
        FanOutHarness.AssertConserved(bytes);
    }

    [Fact]
    public async Task Disposing_the_fan_out_stops_the_pump_and_ends_subscribers_normally()
    {
        var h = new FanOutHarness();
        var sub = h.FanOut.Subscribe();
        h.Start();
        h.Publish(0, 2);

        ValueTask disposing = h.FanOut.DisposeAsync();
        h.Spawner.RunUntilIdle();
        await disposing;

        Assert.True(sub.IsDetached);
        Assert.Equal([0, 1], FanOutHarness.Drain(sub));
        Assert.False(await sub.WaitToReadAsync());
        Assert.Throws<ObjectDisposedException>(() => h.FanOut.Start());
    }

    [Fact]
    public async Task Disposing_the_fan_out_while_the_source_still_holds_frames_stops_the_pump()
    {
        // Found by running the README's fan-out example against the simulator: its DisposeAsync never
        // returned, the pump spinning on a source whose wait answers "readable" without its token.
        var h = new FanOutHarness();
        var sub = h.FanOut.Subscribe();
        h.Start();
        for (int id = 0; id < 3; id++) h.SourceRing.Write(RingFrames.Numbered(id, 4)); // not pumped yet

        ValueTask disposing = h.FanOut.DisposeAsync();
        h.Spawner.RunUntilIdle();
        await disposing;

        Assert.True(sub.IsDetached);
        Assert.True(h.FanOut.Completion.IsCompletedSuccessfully);
        Assert.Equal(3, h.SourceRing.Count);                    // the source keeps what the pump never read
    }

    [Theory]
    [InlineData(0, 1, "CapacityFrames")]
    [InlineData(1, 0, "CapacityBytes")]
    public void Invalid_options_fail_naming_the_field(int frames, long bytes, string field)
    {
        var h = new FanOutHarness();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => h.FanOut.Subscribe(new FanOutSubscriberOptions { CapacityFrames = frames, CapacityBytes = bytes }));
        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }
}
