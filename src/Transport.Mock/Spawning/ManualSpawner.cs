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
/// <para>
/// DISPOSING A CONNECTION IN A PUMPED TEST. The connection's shutdown runs on the actor, so it
/// completes only while someone pumps. <c>await conn.DisposeAsync()</c> with nobody pumping cannot
/// complete; instead of hanging, it fails with an <see cref="InvalidOperationException"/> that says
/// to pump, once no task has been pumped for <see cref="UnpumpedWaitTimeout"/> (real time, default
/// 5 s; the stack passes its shutdown wait to <see cref="GuardExternalWait"/>). Two ways that work:
/// <c>await spawner.RunUntilCompleted(conn.DisposeAsync());</c> (pumps until the shutdown is done,
/// or says why it cannot finish), or <c>var stop = conn.DisposeAsync(); spawner.RunUntilIdle(); await stop;</c>.
/// </para>
/// </remarks>
public sealed class ManualSpawner : ISpawner, IExternalWaitGuard
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

    /// <summary>
    /// How long (real time) an outside wait handed to <see cref="GuardExternalWait"/> may stay
    /// incomplete while no task is pumped before it fails; default 5 s.
    /// <see cref="Timeout.InfiniteTimeSpan"/> turns the watchdog off.
    /// </summary>
    public TimeSpan UnpumpedWaitTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Pumps until <paramref name="task"/> completes, then returns it (await it for its result or
    /// exception): <c>await spawner.RunUntilCompleted(conn.DisposeAsync());</c>
    /// </summary>
    /// <param name="task">A task whose completion is driven by work on this spawner.</param>
    /// <param name="maxSteps">The most tasks to run before declaring a livelock.</param>
    /// <returns><paramref name="task"/>, completed.</returns>
    /// <exception cref="InvalidOperationException">
    /// The queue went idle and <paramref name="task"/> is still incomplete: it waits on something the
    /// pump cannot run (a timer: advance the clock; the peer: script the mock socket).
    /// </exception>
    public Task RunUntilCompleted(Task task, int maxSteps = 1_000_000)
    {
        ArgumentNullException.ThrowIfNull(task);
        _scheduler.RunUntilIdle(maxSteps);
        if (!task.IsCompleted)
        {
            throw new InvalidOperationException(
                "ManualSpawner.RunUntilCompleted: nothing is left to pump and the task is still incomplete, so it waits on " +
                "something the pump cannot run: a timer (advance the clock, then pump again) or the peer (script the mock socket).");
        }

        return task;
    }

    /// <inheritdoc cref="RunUntilCompleted(Task, int)"/>
    public Task RunUntilCompleted(ValueTask task, int maxSteps = 1_000_000) => RunUntilCompleted(task.AsTask(), maxSteps);

    /// <summary>
    /// Guards a wait made outside the pump (the stack calls this for its shutdown wait): the returned
    /// task completes as <paramref name="wait"/> does, on the pump, or fails with an
    /// <see cref="InvalidOperationException"/> that says to pump once no task has been pumped for
    /// <see cref="UnpumpedWaitTimeout"/> while <paramref name="wait"/> is incomplete.
    /// </summary>
    /// <param name="wait">The task the caller awaits.</param>
    /// <param name="operation">What the caller waits for (named in the message).</param>
    /// <returns>The guarded task.</returns>
    public Task GuardExternalWait(Task wait, string operation)
    {
        ArgumentNullException.ThrowIfNull(wait);
        ArgumentNullException.ThrowIfNull(operation);
        if (wait.IsCompleted || _scheduler.IsPumpingOnCurrentThread || UnpumpedWaitTimeout == Timeout.InfiniteTimeSpan)
        {
            return wait;
        }

        // No RunContinuationsAsynchronously: the guarded task completes inside the pump step that
        // completed the wait, so RunUntilCompleted sees it done when the queue goes idle.
        var guarded = new TaskCompletionSource();
        var watchdog = new UnpumpedWaitWatchdog(this, guarded, operation);
        _ = wait.ContinueWith(
            static (t, s) => ((UnpumpedWaitWatchdog)s!).Complete(t),
            watchdog,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            _scheduler);
        return guarded.Task;
    }

    /// <summary>A real-time timer that fails the guarded wait when the pump stands still.</summary>
    private sealed class UnpumpedWaitWatchdog
    {
        private readonly ManualSpawner _owner;
        private readonly TaskCompletionSource _guarded;
        private readonly string _operation;
        private readonly ITimer _timer;
        private long _tasksRunAtLastTick;

        public UnpumpedWaitWatchdog(ManualSpawner owner, TaskCompletionSource guarded, string operation)
        {
            _owner = owner;
            _guarded = guarded;
            _operation = operation;
            _tasksRunAtLastTick = owner._scheduler.TasksRun;
            var period = owner.UnpumpedWaitTimeout;

            // Real time on purpose: this watches the test itself, which no fake clock drives.
            _timer = TimeProvider.System.CreateTimer(static s => ((UnpumpedWaitWatchdog)s!).Tick(), this, period, period);
        }

        public void Complete(Task wait)
        {
            _timer.Dispose();
            if (wait.IsFaulted)
            {
                _guarded.TrySetException(wait.Exception!.InnerExceptions);
            }
            else if (wait.IsCanceled)
            {
                _guarded.TrySetCanceled();
            }
            else
            {
                _guarded.TrySetResult();
            }
        }

        private void Tick()
        {
            var tasksRun = _owner._scheduler.TasksRun;
            if (tasksRun != Interlocked.Exchange(ref _tasksRunAtLastTick, tasksRun))
            {
                return; // someone is pumping: give them another period
            }

            _timer.Dispose();
            var queued = _owner.PendingCount;
            _guarded.TrySetException(new InvalidOperationException(
                $"{_operation} is waiting for the connection's actor, which runs on a ManualSpawner, and nothing has pumped it for " +
                $"{_owner.UnpumpedWaitTimeout.TotalSeconds:0.###} s ({queued} task(s) queued). Pump while you wait: " +
                "'await spawner.RunUntilCompleted(conn.DisposeAsync());' or 'var stop = conn.DisposeAsync(); spawner.RunUntilIdle(); await stop;'" +
                (queued == 0 ? " (nothing is queued: the shutdown waits on a timer, so advance the clock too)." : ".")));
        }
    }
}
