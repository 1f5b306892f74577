using Transport.WebSockets.Sending;

namespace Transport.Tests.Sending;

public sealed class SendQueueTests
{
    [Fact]
    public void I1_pongs_then_control_then_data()
    {
        var queue = new SendQueue(10, 1000);
        queue.TryEnqueue(Request("d1"));
        queue.TryEnqueue(Request("c1", SendOptions.Urgent));
        queue.EnqueuePong(Frame.Pong(new byte[] { 7 }));
        queue.TryEnqueue(Request("d2"));

        var order = new List<string>();
        while (queue.TryDequeue(out var request))
        {
            order.Add(request.Frame.Kind == FrameKind.Pong ? "pong" : request.Frame.GetText());
        }

        Assert.Equal(["pong", "c1", "d1", "d2"], order);
    }

    [Fact]
    public void I2_bounds_by_count_and_bytes()
    {
        var queue = new SendQueue(2, 10);
        Assert.Equal(SendStatus.Accepted, queue.TryEnqueue(Request("12345")));
        Assert.Equal(SendStatus.Full, queue.TryEnqueue(Request("123456")));
        Assert.Equal(SendStatus.Accepted, queue.TryEnqueue(Request("12345")));
        Assert.Equal(SendStatus.Full, queue.TryEnqueue(Request("")));
        Assert.Equal(2, queue.Count);
        Assert.Equal(10, queue.Bytes);
    }

    [Fact]
    public void I3_waiters_for_room_are_admitted_in_arrival_order()
    {
        var queue = new SendQueue(1, 100);
        queue.TryEnqueue(Request("first"));
        var second = Request("second");
        var third = Request("third");
        Assert.Equal(EnqueueResult.Waiting, queue.EnqueueOrWait(second));
        Assert.Equal(EnqueueResult.Waiting, queue.EnqueueOrWait(third));

        // A newcomer does not overtake the waiters.
        Assert.Equal(SendStatus.Full, queue.TryEnqueue(Request("newcomer")));

        Assert.True(queue.TryDequeue(out _));
        Assert.Equal(SendRequestState.Queued, second.QueueState);
        Assert.Equal(SendRequestState.WaitingForRoom, third.QueueState);
        Assert.True(queue.TryDequeue(out var taken));
        Assert.Same(second, taken);
        Assert.True(queue.TryDequeue(out taken));
        Assert.Same(third, taken);
    }

    [Fact]
    public void Pinned_requests_are_removed_when_their_epoch_ends()
    {
        var queue = new SendQueue(10, 1000);
        queue.TryEnqueue(Request("old", SendOptions.PinnedTo(3)));
        queue.TryEnqueue(Request("free"));
        queue.TryEnqueue(Request("current", SendOptions.PinnedTo(4)));

        var removed = queue.RemovePinnedUpTo(3);

        Assert.Equal(["old"], removed.Select(r => r.Frame.GetText()));
        Assert.Equal(2, queue.Count);
    }

    [Fact]
    public async Task Close_returns_everything_queued_or_waiting_and_refuses_more()
    {
        var queue = new SendQueue(1, 100);
        queue.TryEnqueue(Request("queued"));
        var waiter = Request("waiting");
        Assert.Equal(EnqueueResult.Waiting, queue.EnqueueOrWait(waiter));

        var drained = queue.Close(TransportException.Shutdown());

        Assert.Equal(["queued", "waiting"], drained.Select(r => r.Frame.GetText()));
        Assert.Equal(SendStatus.Closed, queue.TryEnqueue(Request("late")));
        await Assert.ThrowsAsync<TransportException>(() => queue.WaitToReadAsync(CancellationToken.None).AsTask());
        Assert.Equal(EnqueueResult.Closed, queue.EnqueueOrWait(Request("late too")));
    }

    private static SendRequest Request(string text, SendOptions options = default) => new(Frame.Text(text), options, tracked: false);
}
