namespace Transport.Mock;

/// <summary>
/// An <see cref="ISpawner"/> that starts work on a <see cref="ManualTaskScheduler"/>: nothing
/// runs until the test calls <see cref="RunUntilIdle"/> or <see cref="RunOne"/>, so a test reads
/// like a script: arrange, advance the clock, pump, assert.
/// </summary>
/// <remarks>
/// <para>
/// THE RULE that makes this deterministic. Code on the actor's path (everything started through
/// <see cref="ISpawner"/>):
/// </para>
/// <list type="number">
/// <item>awaits without <c>ConfigureAwait(false)</c>, so every continuation returns to
/// <see cref="TaskScheduler.Current"/>, which is this spawner's scheduler;</item>
/// <item>never calls <c>Task.Run</c> (or <c>Task.Factory.StartNew</c> without a scheduler), which
/// would escape to the thread pool;</item>
/// <item>takes all time from the injected <see cref="TimeProvider"/> (a
/// <see cref="ManualTimeProvider"/> in tests): no <c>DateTime.UtcNow</c>, <c>Stopwatch</c>,
/// <c>Task.Delay(TimeSpan)</c> or <c>System.Threading.Timer</c>;</item>
/// <item>runs a Polly pipeline with a <c>ResilienceContext</c> whose
/// <c>ContinueOnCapturedContext</c> is true (for example
/// <c>ResilienceContextPool.Shared.Get(continueOnCapturedContext: true)</c>), because Polly's
/// strategies await with <c>ConfigureAwait(context.ContinueOnCapturedContext)</c>.</item>
/// </list>
/// <para>
/// Break any of these and a continuation lands on the thread pool: the test then races the actor
/// and stops being a script.
/// </para>
/// <para>
/// Work that throws is not swallowed: the exception completes the task <see cref="Spawn"/>
/// returned, as it would on the thread pool.
/// </para>
/// </remarks>
public sealed class ManualSpawner : ISpawner
{
    private readonly ManualTaskScheduler _scheduler;

    /// <summary>Creates a spawner over a fresh <see cref="ManualTaskScheduler"/>.</summary>
    public ManualSpawner()
        : this(new ManualTaskScheduler())
    {
    }

    /// <summary>Creates a spawner over <paramref name="scheduler"/> (to share one pump between spawners).</summary>
    /// <param name="scheduler">The scheduler to start work on.</param>
    public ManualSpawner(ManualTaskScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        _scheduler = scheduler;
    }

    /// <summary>The scheduler spawned work runs on (and its continuations return to).</summary>
    public TaskScheduler Scheduler => _scheduler;

    /// <summary>How many tasks are queued and not yet run.</summary>
    public int PendingCount => _scheduler.PendingCount;

    /// <summary>Queues <paramref name="work"/>; it starts at the next pump.</summary>
    /// <param name="work">The long-lived work.</param>
    /// <returns>The work's task (faults with the work's exception).</returns>
    public Task Spawn(Func<Task> work)
    {
        ArgumentNullException.ThrowIfNull(work);

        // DenyChildAttach: the actor's inner tasks must not extend its lifetime behind its back.
        return Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.DenyChildAttach, _scheduler).Unwrap();
    }

    /// <summary>Runs the oldest queued task on the calling thread.</summary>
    /// <returns>True when a task ran.</returns>
    public bool RunOne() => _scheduler.RunOne();

    /// <summary>Runs queued tasks on the calling thread until none is queued.</summary>
    /// <param name="maxSteps">The most tasks to run before declaring a livelock.</param>
    /// <returns>How many tasks ran.</returns>
    /// <exception cref="InvalidOperationException">Work was still queued after <paramref name="maxSteps"/> steps.</exception>
    public int RunUntilIdle(int maxSteps = 1_000_000) => _scheduler.RunUntilIdle(maxSteps);
}
