using System.Threading.Channels;
using Polly;
using Polly.Retry;
using Transport.Mock;

namespace Transport.Tests.Mock;

public sealed class ManualSpawnerTests
{
    [Fact]
    [Trait("Invariant", "Scheduler.S1")]
    public void S1_nothing_runs_until_pumped_then_fifo()
    {
        var spawner = new ManualSpawner();
        var ran = new List<int>();

        var first = spawner.Spawn(() => { ran.Add(1); return Task.CompletedTask; });
        var second = spawner.Spawn(() => { ran.Add(2); return Task.CompletedTask; });
        var third = spawner.Spawn(() => { ran.Add(3); return Task.CompletedTask; });

        Assert.Empty(ran);
        Assert.Equal(3, spawner.PendingCount);

        Assert.True(spawner.RunOne());
        Assert.Equal([1], ran);
        Assert.Equal(2, spawner.RunUntilIdle());

        Assert.Equal([1, 2, 3], ran);
        Assert.True(first.IsCompletedSuccessfully && second.IsCompletedSuccessfully && third.IsCompletedSuccessfully);
        Assert.False(spawner.RunOne());
        Assert.Equal(0, spawner.RunUntilIdle());
    }

    [Fact]
    [Trait("Invariant", "Scheduler.S3")]
    public void S3_awaits_inside_pumped_work_come_back_here()
    {
        var (_, clock, spawner) = MockHarness.Create();
        var channel = Channel.CreateUnbounded<string>();
        var testThread = Environment.CurrentManagedThreadId;
        var steps = new List<string>();
        var where = new List<(TaskScheduler Scheduler, int Thread)>();

        var actor = spawner.Spawn(async () =>
        {
            where.Add((TaskScheduler.Current, Environment.CurrentManagedThreadId));
            steps.Add("started");
            await Task.Delay(TimeSpan.FromSeconds(3), clock);
            where.Add((TaskScheduler.Current, Environment.CurrentManagedThreadId));
            steps.Add("delayed");
            var message = await channel.Reader.ReadAsync();
            where.Add((TaskScheduler.Current, Environment.CurrentManagedThreadId));
            steps.Add($"read {message}");
        });

        Assert.Empty(steps);
        spawner.RunUntilIdle();
        Assert.Equal(["started"], steps);

        // The timer fires on this thread inside Advance, but the continuation is only queued.
        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(["started"], steps);
        Assert.Equal(1, spawner.PendingCount);
        spawner.RunUntilIdle();
        Assert.Equal(["started", "delayed"], steps);

        // A channel write from the test thread completes the read, and again only queues the continuation.
        Assert.True(channel.Writer.TryWrite("hello"));
        Assert.Equal(["started", "delayed"], steps);
        spawner.RunUntilIdle();

        Assert.Equal(["started", "delayed", "read hello"], steps);
        Assert.True(actor.IsCompletedSuccessfully);
        Assert.All(where, w => Assert.Same(spawner.Scheduler, w.Scheduler));
        Assert.All(where, w => Assert.Equal(testThread, w.Thread));
    }

    [Fact]
    [Trait("Invariant", "Scheduler.S3")]
    public void S3_context_is_cleared_while_pumping_and_restored_after()
    {
        var spawner = new ManualSpawner();
        var outer = new SynchronizationContext();
        SynchronizationContext? inside = outer;
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(outer);
        try
        {
            spawner.Spawn(() => { inside = SynchronizationContext.Current; return Task.CompletedTask; });
            spawner.RunUntilIdle();

            Assert.Null(inside);
            Assert.Same(outer, SynchronizationContext.Current);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
    }

    [Fact]
    [Trait("Invariant", "Scheduler.S2")]
    public void S2_inline_execution_is_refused_off_the_pumping_thread()
    {
        var spawner = new ManualSpawner();
        var trigger = new TaskCompletionSource();
        var continued = false;

        // ExecuteSynchronously asks the scheduler to run the continuation inline, on whatever
        // thread completes the antecedent. Completed from the test thread, that must be refused.
        var continuation = trigger.Task.ContinueWith(_ => continued = true, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, spawner.Scheduler);
        trigger.SetResult();

        Assert.False(continued);
        Assert.Equal(1, spawner.PendingCount);
        spawner.RunUntilIdle();
        Assert.True(continued);
        Assert.True(continuation.IsCompletedSuccessfully);
    }

    [Fact]
    [Trait("Invariant", "Scheduler.S2")]
    public void S2_inline_execution_is_allowed_on_the_pumping_thread()
    {
        var spawner = new ManualSpawner();
        var trigger = new TaskCompletionSource();
        var order = new List<string>();
        _ = trigger.Task.ContinueWith(_ => order.Add("continuation"), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, spawner.Scheduler);

        spawner.Spawn(() =>
        {
            trigger.SetResult();
            order.Add("after SetResult");
            return Task.CompletedTask;
        });
        var steps = spawner.RunUntilIdle();

        Assert.Equal(["continuation", "after SetResult"], order);
        Assert.Equal(1, steps);
    }

    [Fact]
    [Trait("Invariant", "Scheduler.S4")]
    public void S4_reentrant_pumping_throws()
    {
        var spawner = new ManualSpawner();

        var nested = spawner.Spawn(() => Task.FromResult(spawner.RunUntilIdle()));
        spawner.RunUntilIdle();

        var error = Assert.IsType<InvalidOperationException>(nested.Exception?.InnerException);
        Assert.Contains("already pumping", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Exceptions_from_spawned_work_surface_through_its_task()
    {
        var spawner = new ManualSpawner();

        var sync = spawner.Spawn(() => throw new InvalidOperationException("sync boom"));
        var async = spawner.Spawn(async () =>
        {
            await Task.Yield();
            throw new TimeoutException("async boom");
        });
        spawner.RunUntilIdle();

        Assert.Equal("sync boom", Assert.IsType<InvalidOperationException>(sync.Exception?.InnerException).Message);
        Assert.Equal("async boom", Assert.IsType<TimeoutException>(async.Exception?.InnerException).Message);
    }

    [Fact]
    public void Livelock_guard_throws_after_max_steps()
    {
        var spawner = new ManualSpawner();
        var spins = 0;
        var stop = false;
        var spinner = spawner.Spawn(async () =>
        {
            while (!stop)
            {
                spins++;
                await Task.Yield();
            }
        });

        var error = Assert.Throws<InvalidOperationException>(() => spawner.RunUntilIdle(maxSteps: 100));
        Assert.Contains("100 steps", error.Message, StringComparison.Ordinal);
        Assert.Equal(100, spins);

        // Let it finish so nothing stays queued.
        stop = true;
        spawner.RunUntilIdle();
        Assert.True(spinner.IsCompletedSuccessfully);
    }

    [Fact]
    public void Exactly_max_steps_of_work_is_not_a_livelock()
    {
        var spawner = new ManualSpawner();
        for (var i = 0; i < 5; i++)
        {
            spawner.Spawn(() => Task.CompletedTask);
        }

        Assert.Equal(5, spawner.RunUntilIdle(maxSteps: 5));
    }

    [Fact]
    public void Polly_retry_with_captured_context_stays_on_the_pumped_scheduler()
    {
        var (_, clock, spawner) = MockHarness.Create();
        var testThread = Environment.CurrentManagedThreadId;
        var attempts = new List<(DateTimeOffset At, TaskScheduler Scheduler, int Thread)>();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = clock }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = 2,
                Delay = TimeSpan.FromSeconds(1),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                ShouldHandle = new PredicateBuilder().Handle<InvalidOperationException>(),
            })
            .Build();

        var actor = spawner.Spawn(async () =>
        {
            var context = ResilienceContextPool.Shared.Get(continueOnCapturedContext: true);
            try
            {
                await pipeline.ExecuteAsync(
                    _ =>
                    {
                        attempts.Add((clock.GetUtcNow(), TaskScheduler.Current, Environment.CurrentManagedThreadId));
                        return attempts.Count < 3 ? ValueTask.FromException(new InvalidOperationException("transient")) : ValueTask.CompletedTask;
                    },
                    context);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        });

        spawner.RunUntilIdle();
        Assert.Single(attempts);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Single(attempts);
        spawner.RunUntilIdle();
        Assert.Equal(2, attempts.Count);
        clock.Advance(TimeSpan.FromSeconds(2));
        spawner.RunUntilIdle();

        Assert.True(actor.IsCompletedSuccessfully);
        var start = ManualTimeProvider.DefaultStart;
        Assert.Equal([start, start.AddSeconds(1), start.AddSeconds(3)], attempts.Select(a => a.At));
        Assert.All(attempts, a => Assert.Same(spawner.Scheduler, a.Scheduler));
        Assert.All(attempts, a => Assert.Equal(testThread, a.Thread));
    }
}
