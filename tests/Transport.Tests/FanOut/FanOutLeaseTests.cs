using Transport;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.FanOut;

namespace Transport.Tests.FanOut;

/// <summary>
/// Lease mode through the fan-out (issue 26 item 2, docs/adr/0013): one defect per test, each
/// reproduced without threads. Frames come from a private pool, so a lease released too early is
/// rented again by the next frame (its magazine is last in, first out) and the stale reader sees
/// that frame's bytes (Release builds) or an ObjectDisposedException (Debug builds).
/// </summary>
public sealed class FanOutLeaseTests
{
    private readonly PayloadLeasePool _pool = new();

    [Fact]
    [Trait("Invariant", "FanOut.F9")]
    public void Stalled_subscriber_evicting_a_leased_frame_does_not_release_it_under_a_live_subscriber()
    {
        var h = new FanOutHarness();
        var stalled = h.FanOut.Subscribe(new FanOutSubscriberOptions { Name = "stalled", CapacityFrames = 1 });
        var live = h.FanOut.Subscribe(new FanOutSubscriberOptions { Name = "live" });
        h.Start();

        h.Publish(Leased("first"));
        h.Publish(Leased("second"));    // the stalled queue evicts "first"
        Frame reuse = Leased("XXXXX");  // a later message: reuses a lease released too early

        Assert.True(live.TryRead(out Frame first));
        Assert.Equal("first", first.GetText());
        Assert.True(live.TryRead(out Frame second));
        Assert.Equal("second", second.GetText());
        first.Release();
        second.Release();
        reuse.Release();
        Assert.True(stalled.TryRead(out Frame stalledSecond));
        Assert.Equal("second", stalledSecond.GetText());
        stalledSecond.Release();
    }

    [Fact]
    [Trait("Invariant", "FanOut.F9")]
    public async Task Detaching_a_subscriber_while_routing_does_not_release_a_leased_frame_another_subscriber_holds()
    {
        var h = new FanOutHarness();
        var live = h.FanOut.Subscribe(new FanOutSubscriberOptions { Name = "live" });
        FanOutSubscriber? leaving = null;

        // The leaving subscriber's DisposeAsync lands between the pump's snapshot of the subscribers
        // and its offer to this one (here: from the filter, which runs on the pump at that moment).
        leaving = h.FanOut.Subscribe(new FanOutSubscriberOptions
        {
            Name = "leaving",
            Filter = _ =>
            {
                leaving!.DisposeAsync().AsTask().GetAwaiter().GetResult();
                return true;
            },
        });
        h.Start();

        h.Publish(Leased("kept"));
        Frame reuse = Leased("XXXX");

        Assert.True(live.TryRead(out Frame kept));
        Assert.Equal("kept", kept.GetText());
        kept.Release();
        reuse.Release();
        Assert.True(leaving.IsDetached);
        Assert.False(await leaving.WaitToReadAsync());
    }

    [Fact]
    [Trait("Invariant", "FanOut.F9")]
    public void Unrouted_leased_frames_are_released()
    {
        var h = new FanOutHarness();
        h.Start();
        Frame frame = Leased("nobody listens");

        h.Publish(frame);

        Assert.Equal(1, h.FanOut.Unrouted);
        Assert.Throws<InvalidOperationException>(() => frame.Release()); // the fan-out already did
    }

    [Fact]
    [Trait("Invariant", "FanOut.F9")]
    public void Leased_frames_every_filter_declines_are_released()
    {
        var h = new FanOutHarness();
        var none = h.FanOut.Subscribe(new FanOutSubscriberOptions { Filter = _ => false });
        h.Start();
        Frame frame = Leased("declined");

        h.Publish(frame);

        Assert.Equal(1, none.Stats.FilteredOut);
        Assert.Throws<InvalidOperationException>(() => frame.Release());
    }

    [Fact]
    [Trait("Invariant", "FanOut.F9")]
    public void Leased_frames_every_full_drop_newest_queue_rejects_are_released()
    {
        var h = new FanOutHarness();
        var full = h.FanOut.Subscribe(new FanOutSubscriberOptions { CapacityFrames = 1, DropPolicy = FanOutDropPolicy.DropNewest });
        h.Start();
        h.Publish(Leased("kept"));
        Frame rejected = Leased("rejected");

        h.Publish(rejected);

        Assert.Equal(1, full.Stats.Dropped);
        Assert.Throws<InvalidOperationException>(() => rejected.Release());
        Assert.True(full.TryRead(out Frame kept));
        Assert.Equal("kept", kept.GetText());
        kept.Release();
    }

    [Fact]
    [Trait("Invariant", "FanOut.F9")]
    public void Leased_frames_offered_to_a_throwing_filter_only_are_released()
    {
        var h = new FanOutHarness();
        var faulty = h.FanOut.Subscribe(new FanOutSubscriberOptions { Filter = _ => throw new FormatException() });
        h.Start();
        Frame frame = Leased("faulted");

        h.Publish(frame);

        Assert.True(faulty.IsDetached);
        Assert.Throws<InvalidOperationException>(() => frame.Release());
    }

    [Fact]
    [Trait("Invariant", "FanOut.F9")]
    [Trait("Invariant", "Lease.L9")]
    public void Every_subscriber_holds_its_own_share_and_past_32_the_extras_get_copies()
    {
        var h = new FanOutHarness();
        var subscribers = Enumerable.Range(0, 40).Select(i => h.FanOut.Subscribe(new FanOutSubscriberOptions { Name = $"s{i}" })).ToList();
        h.Start();
        Frame published = Leased("shared");

        h.Publish(published);

        var frames = subscribers.Select(s => { Assert.True(s.TryRead(out Frame f)); return f; }).ToList();
        Assert.Equal(32, frames.Count(f => f.Payload.Equals(frames[^1].Payload)));   // one buffer, 32 holders (the last subscriber got the pump's)
        Assert.Equal(8, frames.Count(f => !f.Payload.Equals(frames[^1].Payload)));   // the rest: copies in leases of their own
        Assert.All(frames, f => Assert.Equal("shared", f.GetText()));
        foreach (Frame frame in frames.Take(39))
        {
            frame.Release();
        }

        Assert.Equal("shared", frames[39].GetText());   // the others' releases did not free it
        frames[39].Release();
        Assert.All(frames, f => Assert.False(f.HoldsLease));
    }

    private Frame Leased(string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
        PayloadLease lease = _pool.Rent(bytes.Length);
        bytes.CopyTo(lease.Writable);
        return Frame.Leased(FrameKind.Text, lease);
    }
}
