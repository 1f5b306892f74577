using Transport.Tests.Buffering;
using Transport.WebSockets.Waiting;

namespace Transport.Tests.Waiting;

/// <summary>
/// The arm/claim/complete/cancel protocol of the one waiter the ring and the send queue share,
/// tested on its own (the owners' tests show it wired in).
/// </summary>
public sealed class SingleConsumerWaiterTests
{
    private const int Cycles = 1_000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [ThreadStatic]
    private static bool t_insideComplete;

    [Fact]
    [Trait("Invariant", "Waiter.W1")]
    public void W1_a_second_arm_before_the_first_wait_was_consumed_is_refused()
    {
        var waiter = new SingleConsumerWaiter<int>("test owner");
        ValueTask<int> first = waiter.Arm(CancellationToken.None);

        var armedTwice = Assert.Throws<InvalidOperationException>(() => waiter.Arm(CancellationToken.None));
        Assert.Contains("test owner", armedTwice.Message, StringComparison.Ordinal);

        // Completed but not yet consumed: still outstanding.
        Assert.True(waiter.TryClaim());
        waiter.Complete(7);
        Assert.True(waiter.IsOutstanding);
        Assert.Throws<InvalidOperationException>(() => waiter.Arm(CancellationToken.None));

        Assert.Equal(7, ResultOf(first));
        Assert.False(waiter.IsOutstanding);
        ValueTask<int> second = waiter.Arm(CancellationToken.None);
        Assert.False(second.IsCompleted);
    }

    [Fact]
    [Trait("Invariant", "Waiter.W1")]
    public void W1_reading_a_pending_wait_is_refused_without_resetting_it()
    {
        var waiter = new SingleConsumerWaiter<int>("test owner");
        ValueTask<int> wait = waiter.Arm(CancellationToken.None);

        Assert.Throws<InvalidOperationException>(() => wait.GetAwaiter().GetResult());

        // The wait is still pending and completes normally afterwards.
        Assert.True(waiter.TryClaim());
        waiter.Complete(3);
        Assert.Equal(3, ResultOf(wait));
    }

    [Fact]
    [Trait("Invariant", "Waiter.W2")]
    public void W2_only_the_first_claimant_completes_an_armed_wait()
    {
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        Assert.False(waiter.TryClaim()); // nothing armed: nothing to claim

        ValueTask<bool> wait = waiter.Arm(CancellationToken.None);
        Assert.True(waiter.IsArmed);
        Assert.True(waiter.TryClaim());
        Assert.False(waiter.TryClaim());
        Assert.False(waiter.IsArmed);
        Assert.False(wait.IsCompleted); // claimed, not yet completed: the claimant completes after its lock

        waiter.Complete(true);
        Assert.True(ResultOf(wait));
    }

    [Fact]
    [Trait("Invariant", "Waiter.W2")]
    public void W2_a_claim_wins_over_a_later_cancellation()
    {
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        using var cts = new CancellationTokenSource();
        ValueTask<bool> wait = waiter.Arm(cts.Token);

        Assert.True(waiter.TryClaim());
        cts.Cancel(); // the claim was first: the cancellation finds nothing armed
        waiter.Complete(true);

        Assert.True(wait.IsCompletedSuccessfully);
        Assert.True(ResultOf(wait));
    }

    [Fact]
    [Trait("Invariant", "Waiter.W2")]
    public async Task W2_claims_racing_cancellations_complete_every_wait_exactly_once()
    {
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        long completedTrue = 0, cancelled = 0;

        for (int i = 0; i < 2_000; i++)
        {
            using var cts = new CancellationTokenSource();
            ValueTask<bool> wait = waiter.Arm(cts.Token);
            using var start = new Barrier(2);
            Task canceller = Task.Run(() =>
            {
                start.SignalAndWait();
                cts.Cancel();
            });

            start.SignalAndWait();
            if (waiter.TryClaim())
            {
                waiter.Complete(true);
            }

            try
            {
                if (await wait.AsTask().WaitAsync(Bound))
                {
                    completedTrue++;
                }
            }
            catch (OperationCanceledException error)
            {
                Assert.Equal(cts.Token, error.CancellationToken);
                cancelled++;
            }

            await canceller.WaitAsync(Bound);
            Assert.False(waiter.IsOutstanding);
        }

        Assert.Equal(2_000, completedTrue + cancelled);
    }

    [Fact]
    [Trait("Invariant", "Waiter.W3")]
    public void W3_the_continuation_runs_on_the_consumers_scheduler_not_inline()
    {
        var scheduler = new PumpedTestScheduler();
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        TaskScheduler? resumedOn = null;
        ValueTask<bool> wait = waiter.Arm(CancellationToken.None);

        Task consumer = scheduler.Run(async () =>
        {
            await wait;
            resumedOn = TaskScheduler.Current;
        });
        scheduler.RunUntilIdle();
        Assert.False(consumer.IsCompleted);

        Assert.True(waiter.TryClaim());
        waiter.Complete(true);
        Assert.Null(resumedOn);             // not run inline by the completer...
        Assert.Equal(1, scheduler.Pending); // ...but queued to the consumer's scheduler

        scheduler.RunUntilIdle();
        Assert.Same(scheduler, resumedOn);
        Assert.True(consumer.IsCompletedSuccessfully);
    }

    [Fact]
    [Trait("Invariant", "Waiter.W3")]
    public async Task W3_without_a_captured_context_the_continuation_does_not_run_inside_complete()
    {
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        var ranInside = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        ValueTask<bool> wait = waiter.Arm(CancellationToken.None);

        async Task ConsumeAsync()
        {
            await wait.ConfigureAwait(false);
            ranInside.SetResult(t_insideComplete);
        }

        Task consumer = ConsumeAsync();
        Assert.True(waiter.TryClaim());
        t_insideComplete = true;
        try
        {
            waiter.Complete(true);
        }
        finally
        {
            t_insideComplete = false;
        }

        Assert.False(await ranInside.Task.WaitAsync(Bound));
        await consumer.WaitAsync(Bound);
    }

    [Fact]
    [Trait("Invariant", "Waiter.W4")]
    public async Task W4_cancellation_while_armed_ends_the_wait_with_the_token()
    {
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        using var cts = new CancellationTokenSource();
        ValueTask<bool> wait = waiter.Arm(cts.Token);
        Assert.False(wait.IsCompleted);

        cts.Cancel();

        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await wait);
        Assert.Equal(cts.Token, error.CancellationToken);
        Assert.False(waiter.IsOutstanding);
        Assert.False(waiter.TryClaim()); // the cancellation was the claimant
    }

    [Fact]
    [Trait("Invariant", "Waiter.W4")]
    public void W4_an_already_cancelled_token_yields_an_already_cancelled_wait()
    {
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        ValueTask<bool> wait = waiter.Arm(cts.Token);

        Assert.True(wait.IsCanceled);
        Assert.ThrowsAny<OperationCanceledException>(() => wait.GetAwaiter().GetResult());
        Assert.False(waiter.IsOutstanding);
    }

    [Fact]
    [Trait("Invariant", "Waiter.W4")]
    public async Task W4_cancellation_racing_arm_is_never_lost()
    {
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        for (int i = 0; i < 2_000; i++)
        {
            using var cts = new CancellationTokenSource();
            using var start = new Barrier(2);
            Task canceller = Task.Run(() =>
            {
                start.SignalAndWait();
                cts.Cancel();
            });

            start.SignalAndWait();
            ValueTask<bool> wait = waiter.Arm(cts.Token);

            // Nobody else claims: only the cancellation can end this wait, and it must.
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.AsTask().WaitAsync(Bound));
            await canceller.WaitAsync(Bound);
        }
    }

    [Fact]
    [Trait("Invariant", "Waiter.W5")]
    public void W5_arm_claim_complete_consume_allocates_nothing_with_or_without_a_token()
    {
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        using var cts = new CancellationTokenSource();
        Cycle(waiter, CancellationToken.None);
        Cycle(waiter, cts.Token); // warm up (JIT, the token's registration node)

        long before = GC.GetAllocatedBytesForCurrentThread();
        Cycle(waiter, CancellationToken.None);
        Cycle(waiter, cts.Token);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);

        static void Cycle(SingleConsumerWaiter<bool> waiter, CancellationToken token)
        {
            for (int i = 0; i < Cycles; i++)
            {
                ValueTask<bool> wait = waiter.Arm(token);
                if (!waiter.TryClaim())
                {
                    throw new InvalidOperationException("armed wait not claimable");
                }

                waiter.Complete(true);
                if (!wait.IsCompletedSuccessfully || !wait.Result)
                {
                    throw new InvalidOperationException("wait not completed");
                }
            }
        }
    }

    [Fact]
    [Trait("Invariant", "Waiter.W5")]
    public void W5_one_source_is_reused_with_a_new_version_each_wait()
    {
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        var versions = new HashSet<short>();
        for (int i = 0; i < Cycles; i++)
        {
            ValueTask wait = waiter.ArmUntyped(CancellationToken.None);
            versions.Add(VersionOf(wait));
            Assert.True(waiter.TryClaim());
            waiter.Complete(true);
            Consume(wait);
        }

        Assert.Equal(Cycles, versions.Count);
    }

    [Fact]
    [Trait("Invariant", "Waiter.W6")]
    public async Task W6_a_completed_wait_leaves_no_registration_so_a_later_cancel_is_harmless()
    {
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        using var first = new CancellationTokenSource();
        ValueTask<bool> wait = waiter.Arm(first.Token);
        Assert.True(waiter.TryClaim());
        waiter.Complete(true);
        Assert.True(await wait);

        // The next wait uses no token; cancelling the first one's token must not touch it.
        ValueTask<bool> next = waiter.Arm(CancellationToken.None);
        first.Cancel();
        Assert.False(next.IsCompleted);
        Assert.True(waiter.TryClaim());
        waiter.Complete(false);
        Assert.False(await next);
    }

    [Fact]
    [Trait("Invariant", "Waiter.W6")]
    public async Task W6_an_earlier_tokens_late_cancellation_never_ends_the_current_wait()
    {
        // The earlier token is cancelled on another thread while its wait is being completed and
        // the next wait armed with another token: the late callback must not claim the new wait.
        var waiter = new SingleConsumerWaiter<bool>("test owner");
        for (int i = 0; i < 1_000; i++)
        {
            using var earlier = new CancellationTokenSource();
            ValueTask<bool> wait = waiter.Arm(earlier.Token);
            using var start = new Barrier(2);
            Task canceller = Task.Run(() =>
            {
                start.SignalAndWait();
                earlier.Cancel();
            });

            start.SignalAndWait();
            if (waiter.TryClaim())
            {
                waiter.Complete(true);
            }

            try
            {
                await wait.AsTask().WaitAsync(Bound);
            }
            catch (OperationCanceledException)
            {
                // the cancellation won this one: fine
            }

            ValueTask<bool> current = waiter.Arm(CancellationToken.None);
            await canceller.WaitAsync(Bound);
            Assert.False(current.IsCompleted);
            Assert.True(waiter.TryClaim());
            waiter.Complete(true);
            Assert.True(await current);
        }
    }

    // The result of a wait that must already have completed (never blocks).
    private static T ResultOf<T>(ValueTask<T> wait)
    {
        Assert.True(wait.IsCompleted, "the wait was expected to have completed");
        return wait.GetAwaiter().GetResult();
    }

    private static void Consume(ValueTask wait)
    {
        Assert.True(wait.IsCompleted, "the wait was expected to have completed");
        wait.GetAwaiter().GetResult();
    }

    private static short VersionOf(ValueTask wait) =>
        (short)typeof(ValueTask).GetField("_token", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.GetValue(wait)!;
}
