using System.Reflection;
using Transport.WebSockets.Sending;
using Transport.WebSockets.Waiting;

namespace Transport.Tests.Sending;

/// <summary>I4: the consumer's (the actor's write loop's) wait on an empty queue is one reusable, allocation-free waiter.</summary>
public sealed class SendQueueWaitTests
{
    private const int Cycles = 1_000;

    [Fact]
    public void I4_one_waiter_is_reused_across_cycles()
    {
        var queue = new SendQueue(10, 1_000);
        using var writer = new CancellationTokenSource();
        object? source = null;
        var versions = new HashSet<short>();

        for (var i = 0; i < Cycles; i++)
        {
            var wait = queue.WaitToReadAsync(writer.Token);
            Assert.False(wait.IsCompleted);
            var (obj, token) = Inside(wait);
            source ??= obj;
            Assert.Same(source, obj);
            versions.Add(token);

            Assert.Equal(SendStatus.Accepted, queue.TryEnqueue(Request("x")));
            Consume(wait);
            Assert.True(queue.TryDequeue(out _));
        }

        // Same source every time, a new version each time (a stale wait cannot be confused).
        Assert.IsType<SingleConsumerWaiter<bool>>(source);
        Assert.Equal(Cycles, versions.Count);
    }

    [Fact]
    public void I4_wait_and_wake_allocate_nothing()
    {
        var queue = new SendQueue(10, 1_000);
        using var writer = new CancellationTokenSource();
        var request = Request("x"); // created before measuring, enqueued again every cycle

        // Warm up both loops (JIT, queue internals).
        EnqueueDequeue(queue, request);
        WaitEnqueueDequeue(queue, request, writer.Token);

        // The lane's linked-list node is allocated by the enqueue itself, waited for or not:
        // measure both loops and compare, so only the wait/wake's own cost remains.
        var before = GC.GetAllocatedBytesForCurrentThread();
        EnqueueDequeue(queue, request);
        var withoutWait = GC.GetAllocatedBytesForCurrentThread() - before;

        before = GC.GetAllocatedBytesForCurrentThread();
        WaitEnqueueDequeue(queue, request, writer.Token);
        var withWait = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(withoutWait, withWait);
        Assert.True(withoutWait < Cycles * 100, $"the baseline loop should allocate only the lane nodes, was {withoutWait} B");
    }

    [Fact]
    public async Task I4_wait_is_woken_by_try_enqueue()
    {
        var queue = new SendQueue(10, 1_000);
        var wait = queue.WaitToReadAsync(CancellationToken.None);
        Assert.False(wait.IsCompleted);

        queue.TryEnqueue(Request("x"));

        await wait;
        Assert.True(queue.TryDequeue(out var taken));
        Assert.Equal("x", taken.Frame.GetText());
    }

    [Fact]
    public async Task I4_wait_is_woken_by_enqueue_pong()
    {
        var queue = new SendQueue(10, 1_000);
        var wait = queue.WaitToReadAsync(CancellationToken.None);
        Assert.False(wait.IsCompleted);

        queue.EnqueuePong(Frame.Pong(new byte[] { 7 }));

        await wait;
        Assert.True(queue.TryDequeue(out var taken));
        Assert.True(taken.IsPong);
    }

    [Fact]
    public async Task I4_wait_is_woken_by_requeue()
    {
        var queue = new SendQueue(10, 1_000);
        var request = Request("retry");
        queue.TryEnqueue(request);
        Assert.True(queue.TryDequeue(out _)); // the writer took it; the write failed
        var wait = queue.WaitToReadAsync(CancellationToken.None);
        Assert.False(wait.IsCompleted);

        queue.Requeue(request);

        await wait;
        Assert.True(queue.TryDequeue(out var taken));
        Assert.Same(request, taken);
    }

    [Fact]
    public async Task I4_wait_is_faulted_by_close_with_the_closed_error()
    {
        var queue = new SendQueue(10, 1_000);
        var wait = queue.WaitToReadAsync(CancellationToken.None);
        Assert.False(wait.IsCompleted);
        var error = TransportException.Shutdown();

        queue.Close(error);

        Assert.Same(error, await Assert.ThrowsAsync<TransportException>(async () => await wait));

        // And every later wait faults at once with the same error.
        var later = queue.WaitToReadAsync(CancellationToken.None);
        Assert.True(later.IsFaulted);
        Assert.Same(error, await Assert.ThrowsAsync<TransportException>(async () => await later));
    }

    [Fact]
    public async Task I4_wait_is_cancelled_by_its_token()
    {
        var queue = new SendQueue(10, 1_000);
        using var writer = new CancellationTokenSource();
        var wait = queue.WaitToReadAsync(writer.Token);
        Assert.False(wait.IsCompleted);

        writer.Cancel();

        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await wait);
        Assert.Equal(writer.Token, cancelled.CancellationToken);

        // The waiter is usable again after a cancellation (next session, new token).
        using var next = new CancellationTokenSource();
        var again = queue.WaitToReadAsync(next.Token);
        Assert.False(again.IsCompleted);
        queue.TryEnqueue(Request("x"));
        await again;
    }

    [Fact]
    public void I4_an_earlier_sessions_token_does_not_cancel_the_current_wait()
    {
        var queue = new SendQueue(10, 1_000);
        using var old = new CancellationTokenSource();
        var earlier = queue.WaitToReadAsync(old.Token);
        queue.TryEnqueue(Request("x"));
        Consume(earlier);
        Assert.True(queue.TryDequeue(out _));

        using var current = new CancellationTokenSource();
        var wait = queue.WaitToReadAsync(current.Token);
        old.Cancel(); // the earlier wait's registration was released when it completed

        Assert.False(wait.IsCompleted);
        queue.TryEnqueue(Request("x"));
        Consume(wait);
    }

    [Fact]
    public void I4_an_already_cancelled_token_cancels_the_wait_at_once()
    {
        var queue = new SendQueue(10, 1_000);
        using var writer = new CancellationTokenSource();
        writer.Cancel();

        var wait = queue.WaitToReadAsync(writer.Token);

        Assert.True(wait.IsCanceled);
    }

    [Fact]
    public void I4_misuse_is_refused_loudly_not_left_hanging()
    {
        var queue = new SendQueue(10, 1_000);

        // Single consumer: a second wait before the first was consumed.
        var first = queue.WaitToReadAsync(CancellationToken.None);
        Assert.Throws<InvalidOperationException>(() => queue.WaitToReadAsync(CancellationToken.None));
        queue.TryEnqueue(Request("x"));
        Assert.True(first.IsCompletedSuccessfully);
    }

    private static void EnqueueDequeue(SendQueue queue, SendRequest request)
    {
        for (var i = 0; i < Cycles; i++)
        {
            queue.TryEnqueue(request);
            if (!queue.TryDequeue(out _))
            {
                throw new InvalidOperationException("nothing to dequeue");
            }
        }
    }

    // The writer finds the queue empty and waits; the enqueue wakes it synchronously on this thread.
    private static void WaitEnqueueDequeue(SendQueue queue, SendRequest request, CancellationToken writerToken)
    {
        for (var i = 0; i < Cycles; i++)
        {
            var wait = queue.WaitToReadAsync(writerToken);
            if (wait.IsCompleted)
            {
                throw new InvalidOperationException("the queue was not empty");
            }

            queue.TryEnqueue(request);
            if (!wait.IsCompletedSuccessfully)
            {
                throw new InvalidOperationException("the enqueue did not wake the wait");
            }

            wait.GetAwaiter().GetResult();
            if (!queue.TryDequeue(out _))
            {
                throw new InvalidOperationException("nothing to dequeue");
            }
        }
    }

    // Reads the outcome of a wait that must already have succeeded (resetting the waiter for reuse).
    private static void Consume(ValueTask wait)
    {
        Assert.True(wait.IsCompletedSuccessfully);
        wait.GetAwaiter().GetResult();
    }

    // ValueTask keeps its source and version private; reading them is the only way to show that
    // every wait hands out the same source.
    private static (object? Source, short Token) Inside(ValueTask wait)
    {
        var type = typeof(ValueTask);
        var obj = type.GetField("_obj", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(wait);
        var token = (short)type.GetField("_token", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(wait)!;
        return (obj, token);
    }

    private static SendRequest Request(string text) => new(Frame.Text(text), SendOptions.Default, tracked: false);
}
