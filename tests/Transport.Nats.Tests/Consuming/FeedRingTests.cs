using Transport.Nats.Consuming;

namespace Transport.Nats.Tests.Consuming;

public sealed class FeedRingTests
{
    private static readonly FrameOrigin Origin = new(1, 1, 1, null);

    [Fact]
    [Trait("Invariant", "FeedRing.F1")]
    public void F1_bounds_hold_and_the_newest_frame_is_always_admitted()
    {
        var ring = new FeedRing(3, 100);
        for (int i = 0; i < 10; i++)
        {
            ring.Write(Frame.Binary(new byte[30]), Origin);
            Assert.True(ring.Count <= 3);
            Assert.True(ring.Bytes <= 100);
        }

        ring.Write(Frame.Binary(new byte[500]), Origin);
        Assert.Equal(1, ring.Count);
        Assert.Equal(500, ring.Bytes);
    }

    [Fact]
    [Trait("Invariant", "FeedRing.F2")]
    public void F2_overflow_evicts_the_oldest_and_counts_it()
    {
        var ring = new FeedRing(2, 1_000);
        ring.Write(Frame.Text("a"), new FrameOrigin(1, 1, 1, null));
        ring.Write(Frame.Text("b"), new FrameOrigin(2, 2, 1, null));
        Assert.Equal(1, ring.Write(Frame.Text("c"), new FrameOrigin(3, 3, 1, null)));
        Assert.Equal(1, ring.TotalLagged);
        Assert.True(ring.TryRead(out var frame, out var origin));
        Assert.Equal("b", frame.GetText());
        Assert.Equal(2UL, origin.StreamSequence);
    }

    [Fact]
    [Trait("Invariant", "FeedRing.F3")]
    public void F3_conservation_under_random_operations()
    {
        var random = new Random(7);
        var ring = new FeedRing(16, 1_000);
        var batch = new Frame[5];
        for (int i = 0; i < 5_000; i++)
        {
            switch (random.Next(3))
            {
                case 0:
                    ring.Write(Frame.Binary(new byte[random.Next(0, 120)]), Origin);
                    break;
                case 1:
                    ring.TryRead(out _, out _);
                    break;
                default:
                    ring.TryReadBatch(batch, out _);
                    break;
            }

            Assert.Equal(ring.TotalWritten, ring.TotalRead + ring.TotalLagged + ring.Count);
        }
    }

    [Fact]
    [Trait("Invariant", "FeedRing.F4")]
    public async Task F4_waits_are_woken_by_writes_and_completion()
    {
        var ring = new FeedRing(4, 1_000);
        var wait = ring.WaitToReadAsync(CancellationToken.None);
        Assert.False(wait.IsCompleted);
        ring.Write(Frame.Text("x"), Origin);
        Assert.True(await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(ring.TryRead(out _, out _));

        var pending = ring.WaitToReadAsync(CancellationToken.None);
        ring.Write(Frame.Text("y"), Origin);
        ring.Complete();
        Assert.True(await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, ring.Write(Frame.Text("ignored"), Origin));
        Assert.True(await ring.WaitToReadAsync(CancellationToken.None)); // buffered frames stay readable
        Assert.True(ring.TryRead(out var y, out _));
        Assert.Equal("y", y.GetText());
        Assert.False(await ring.WaitToReadAsync(CancellationToken.None));

        var failed = new FeedRing(4, 1_000);
        failed.Complete(new TransportException(TransportErrorKind.Shutdown, "gone"));
        await Assert.ThrowsAsync<TransportException>(async () => await failed.WaitToReadAsync(CancellationToken.None));
    }
}
