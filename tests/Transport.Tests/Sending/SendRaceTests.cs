using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging.Abstractions;
using Transport.WebSockets.Sending;

namespace Transport.Tests.Sending;

/// <summary>
/// Issue #13 items 5 and 6: the producer side of the send queue. Each race is replayed in a fixed
/// order on one thread, so the tests are exact, not probabilistic.
/// </summary>
public sealed class SendRaceTests
{
    [Fact]
    [Trait("Invariant", "SendQueue.I5")]
    public async Task Item5_send_cancelled_right_after_admission_from_the_wait_list_is_withdrawn()
    {
        var (queue, sink) = Create(capacityFrames: 1);
        Assert.Equal(SendStatus.Accepted, sink.TrySend(Frame.Text("fills the queue")));
        using var cts = new CancellationTokenSource();
        var send = sink.SendAsync(Frame.Text("waits for room"), cts.Token);
        Assert.False(send.IsCompleted);

        // The writer takes the first frame, which admits the waiter into the lane...
        Assert.True(queue.TryDequeue(out _));
        Assert.Equal(1, queue.Count);

        // ...and the sender cancels before anything else runs.
        cts.Cancel();

        Assert.True(send.IsCanceled);            // the caller learns at once: no hang
        Assert.Equal(0, queue.Count);            // and its frame is withdrawn, not sent later
        Assert.False(queue.TryDequeue(out _));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await send);
    }

    [Fact]
    [Trait("Invariant", "SendQueue.I5")]
    public async Task Item5_send_taken_by_the_writer_then_cancelled_still_completes_on_shutdown()
    {
        var (queue, sink) = Create(capacityFrames: 1);
        Assert.Equal(SendStatus.Accepted, sink.TrySend(Frame.Text("fills the queue")));
        using var cts = new CancellationTokenSource();
        var send = sink.SendAsync(Frame.Text("waits for room"), cts.Token);
        Assert.True(queue.TryDequeue(out _));
        Assert.True(queue.TryDequeue(out var taken)); // admitted, then taken by the writer

        cts.Cancel(); // too late to withdraw: the writer owns it
        Assert.False(send.IsCompleted);

        // The writer's session ends before the write: the frame goes back, and shutdown fails it.
        queue.Requeue(taken);
        foreach (var request in queue.Close(TransportException.Shutdown()))
        {
            request.Fail(TransportException.Shutdown());
        }

        var error = await Assert.ThrowsAsync<TransportException>(async () => await send);
        Assert.Equal(TransportErrorKind.Shutdown, error.Kind);
    }

    [Fact]
    [Trait("Invariant", "SendQueue.I5")]
    public async Task Item5_send_waiting_for_room_fails_when_the_queue_closes()
    {
        var (queue, sink) = Create(capacityFrames: 1);
        sink.TrySend(Frame.Text("fills the queue"));
        using var cts = new CancellationTokenSource();
        var send = sink.SendAsync(Frame.Text("waits"), cts.Token);

        foreach (var request in queue.Close(TransportException.Shutdown()))
        {
            request.Fail(TransportException.Shutdown());
        }

        cts.Cancel(); // after the close: must not touch the failed request
        var error = await Assert.ThrowsAsync<TransportException>(async () => await send);
        Assert.Equal(TransportErrorKind.Shutdown, error.Kind);
    }

    [Fact]
    [Trait("Invariant", "SendQueue.I6")]
    public void Item6_fast_path_send_leaves_no_registration_on_the_token()
    {
        var (queue, sink) = Create(capacityFrames: 16);
        using var longLived = new CancellationTokenSource();

        // A writer whose wake-up runs inline on the sender's thread, inside the enqueue: it takes
        // and completes the frame before SendAsync returns (the interleaving that leaked the hook).
        var writer = InlineWriter(queue, longLived.Token);

        var payload = SendAndForget(sink, longLived.Token, out var sent);
        Assert.True(writer.IsCompletedSuccessfully);
        Assert.True(sent.IsCompletedSuccessfully);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        // The token lives on; the request and its payload must not.
        Assert.False(payload.IsAlive, "The send's cancellation registration kept the request and its payload alive.");
        GC.KeepAlive(longLived);
    }

    [Fact]
    [Trait("Invariant", "SendQueue.I6")]
    public void Item6_cancellation_before_the_request_is_queued_withdraws_it()
    {
        var queue = new SendQueue(4, 100);
        var request = new SendRequest(Frame.Text("x"), default, tracked: true);

        Assert.True(queue.TryWithdraw(request)); // the sender's hook ran before the request reached the queue
        request.Cancel(new CancellationToken(true));

        Assert.Equal(EnqueueResult.Withdrawn, queue.EnqueueOrWait(request));
        Assert.Equal(0, queue.Count);
        Assert.True(request.Completion.IsCanceled);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference SendAndForget(FrameSink sink, CancellationToken token, out Task sent)
    {
        var payload = new byte[1024];
        sent = sink.SendAsync(Frame.Binary(payload), token).AsTask();
        return new WeakReference(payload);
    }

    private static Task InlineWriter(SendQueue queue, CancellationToken token)
    {
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(new InlineContext());
        try
        {
            return WriteOneAsync(queue, token);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }

        static async Task WriteOneAsync(SendQueue queue, CancellationToken token)
        {
            await queue.WaitToReadAsync(token); // resumes inline, on whichever thread wakes it
            Assert.True(queue.TryDequeue(out var request));
            request.Succeed();
        }
    }

    private static (SendQueue Queue, FrameSink Sink) Create(int capacityFrames)
    {
        var queue = new SendQueue(capacityFrames, 1 << 20);
        return (queue, new FrameSink(queue, new EpochFence(NullLogger.Instance)));
    }

    private sealed class InlineContext : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state) => d(state);
    }
}
