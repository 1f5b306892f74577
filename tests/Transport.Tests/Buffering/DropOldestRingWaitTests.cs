using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Buffering;

/// <summary>How the consumer waits on the ring and who wakes it.</summary>
public sealed class DropOldestRingWaitTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [ThreadStatic]
    private static bool t_insideWrite;

    [Fact]
    public void Wait_completes_synchronously_when_a_frame_is_buffered()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        ring.Write(RingFrames.Numbered(1));

        ValueTask<bool> wait = ring.WaitToReadAsync();

        Assert.True(wait.IsCompletedSuccessfully);
        Assert.True(wait.CompletedResult());
        Assert.Equal(1, ring.Count);  // waiting consumes nothing
    }

    [Fact]
    [Trait("Invariant", "Ring.I7")]
    public void I7_pending_wait_is_woken_by_write()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        ValueTask<bool> wait = ring.WaitToReadAsync();
        Assert.False(wait.IsCompleted);

        ring.Write(RingFrames.Numbered(1));

        Assert.True(wait.IsCompletedSuccessfully);
        Assert.True(wait.CompletedResult());
        Assert.True(ring.TryRead(out Frame frame));
        Assert.Equal(1, RingFrames.IdOf(frame));
    }

    [Fact]
    [Trait("Invariant", "Ring.I7")]
    public void I7_the_waiter_is_reused_across_many_waits()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        for (int id = 0; id < 1_000; id++)
        {
            ValueTask<bool> wait = ring.WaitToReadAsync();
            Assert.False(wait.IsCompleted);
            ring.Write(RingFrames.Numbered(id));
            Assert.True(wait.CompletedResult());
            Assert.True(ring.TryRead(out Frame frame));
            Assert.Equal(id, RingFrames.IdOf(frame));
        }
    }

    [Fact]
    [Trait("Invariant", "Ring.I7")]
    public void I7_pending_wait_is_woken_by_complete()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        ValueTask<bool> wait = ring.WaitToReadAsync();
        Assert.False(wait.IsCompleted);

        ring.Complete();

        Assert.True(wait.IsCompletedSuccessfully);
        Assert.False(wait.CompletedResult());
        Assert.False(ring.WaitToReadAsync().CompletedResult());  // and stays ended
    }

    [Fact]
    [Trait("Invariant", "Ring.I7")]
    public async Task I7_pending_wait_is_woken_by_complete_with_error()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        var error = new TransportException(TransportErrorKind.Auth, "unrecoverable", httpStatus: 401);
        ValueTask<bool> wait = ring.WaitToReadAsync();

        ring.Complete(error);

        Assert.True(wait.IsFaulted);
        Assert.Same(error, await Assert.ThrowsAsync<TransportException>(() => wait.AsTask()));
        Assert.Same(error, await Assert.ThrowsAsync<TransportException>(() => ring.WaitToReadAsync().AsTask()));
    }

    [Fact]
    [Trait("Invariant", "Ring.I6")]
    public async Task I6_wait_throws_the_completion_error_only_after_draining()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        var error = new TransportException(TransportErrorKind.Protocol, "bad frame");
        ring.Write(RingFrames.Numbered(1));
        ring.Write(RingFrames.Numbered(2));
        ring.Complete(error);

        Assert.True(await ring.WaitToReadAsync());
        Assert.True(ring.TryRead(out Frame first));
        Assert.True(await ring.WaitToReadAsync());
        Assert.True(ring.TryRead(out Frame second));
        Assert.Equal([1, 2], new[] { RingFrames.IdOf(first), RingFrames.IdOf(second) });

        Assert.Same(error, await Assert.ThrowsAsync<TransportException>(() => ring.WaitToReadAsync().AsTask()));
        Assert.False(ring.TryRead(out _));
    }

    [Fact]
    [Trait("Invariant", "Ring.I6")]
    public async Task I6_normal_complete_answers_false_only_after_draining()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        ring.Write(RingFrames.Numbered(1));
        ring.Complete();

        Assert.True(await ring.WaitToReadAsync());
        Assert.True(ring.TryRead(out _));
        Assert.False(await ring.WaitToReadAsync());
    }

    [Fact]
    public async Task Cancelling_a_pending_wait_faults_it_and_leaves_the_ring_usable()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        using var cts = new CancellationTokenSource();
        ValueTask<bool> wait = ring.WaitToReadAsync(cts.Token);
        Assert.False(wait.IsCompleted);

        cts.Cancel();

        Assert.True(wait.IsCanceled);
        var thrown = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.AsTask());
        Assert.Equal(cts.Token, thrown.CancellationToken);

        // The cancelled registration must not touch the next wait.
        ValueTask<bool> next = ring.WaitToReadAsync();
        ring.Write(RingFrames.Numbered(1));
        Assert.True(await next);
        Assert.Equal(0, ring.TotalLagged);
    }

    [Fact]
    public void An_already_cancelled_token_with_an_empty_ring_faults_synchronously()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        ValueTask<bool> wait = ring.WaitToReadAsync(new CancellationToken(canceled: true));
        Assert.True(wait.IsCanceled);

        // A buffered frame wins over a cancelled token: there is nothing to wait for.
        ring.Write(RingFrames.Numbered(1));
        Assert.True(ring.WaitToReadAsync(new CancellationToken(canceled: true)).CompletedResult());
    }

    [Fact]
    public async Task Write_after_a_cancellable_wait_unregisters_so_a_later_cancel_is_harmless()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        using var cts = new CancellationTokenSource();
        ValueTask<bool> wait = ring.WaitToReadAsync(cts.Token);
        ring.Write(RingFrames.Numbered(1));
        Assert.True(await wait);

        ValueTask<bool> second = ring.WaitToReadAsync(CancellationToken.None);  // frame still buffered
        Assert.True(second.CompletedResult());
        Assert.True(ring.TryRead(out _));
        ValueTask<bool> third = ring.WaitToReadAsync();
        cts.Cancel();  // the first wait's registration is gone: must not cancel the third

        Assert.False(third.IsCompleted);
        ring.Write(RingFrames.Numbered(2));
        Assert.True(await third);
    }

    [Fact]
    public void A_second_wait_before_the_first_was_consumed_is_rejected()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        ValueTask<bool> first = ring.WaitToReadAsync();

        Assert.Throws<InvalidOperationException>(() => ring.WaitToReadAsync());

        ring.Write(RingFrames.Numbered(1));
        Assert.True(first.CompletedResult());
    }

    [Fact]
    [Trait("Invariant", "Ring.I8")]
    public void I8_continuation_runs_on_the_consumers_pumped_scheduler()
    {
        var scheduler = new PumpedTestScheduler();
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        var seen = new List<int>();
        TaskScheduler? resumedOn = null;

        Task consumer = scheduler.Run(async () =>
        {
            // Awaited without ConfigureAwait(false), as on the actor's path: resumes on the pump.
            while (await ring.WaitToReadAsync())
            {
                resumedOn = TaskScheduler.Current;
                while (ring.TryRead(out Frame frame))
                {
                    seen.Add(RingFrames.IdOf(frame));
                }
            }
        });

        scheduler.RunUntilIdle();
        Assert.False(consumer.IsCompleted);  // parked on the empty ring

        ring.Write(RingFrames.Numbered(1));
        Assert.Empty(seen);                  // not run inline by the producer...
        Assert.Equal(1, scheduler.Pending);  // ...but queued to the consumer's scheduler

        scheduler.RunUntilIdle();
        Assert.Equal([1], seen);
        Assert.Same(scheduler, resumedOn);

        ring.Write(RingFrames.Numbered(2));
        ring.Write(RingFrames.Numbered(3));
        ring.Complete();
        Assert.Equal([1], seen);

        scheduler.RunUntilIdle();
        Assert.Equal([1, 2, 3], seen);
        Assert.True(consumer.IsCompletedSuccessfully);
    }

    [Fact]
    [Trait("Invariant", "Ring.I8")]
    public async Task I8_continuation_without_context_does_not_run_inline_in_write()
    {
        var ring = new DropOldestRing(capacityFrames: 4, capacityBytes: 100);
        var ranInsideWrite = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);

        // A consumer that captured nothing: its continuation must not hijack the producer's thread.
        async Task ConsumeAsync()
        {
            await ring.WaitToReadAsync().ConfigureAwait(false);
            ranInsideWrite.SetResult(t_insideWrite);
        }

        Task consumer = ConsumeAsync();
        Assert.False(consumer.IsCompleted);

        t_insideWrite = true;
        try
        {
            ring.Write(RingFrames.Numbered(1));
        }
        finally
        {
            t_insideWrite = false;
        }

        Assert.False(await ranInsideWrite.Task.WaitAsync(Bound));
        await consumer.WaitAsync(Bound);
    }
}
