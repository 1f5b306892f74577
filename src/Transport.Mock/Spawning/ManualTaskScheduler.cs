using System.Diagnostics;

namespace Transport.Mock;

/// <summary>
/// A single-threaded FIFO <see cref="TaskScheduler"/> that runs nothing until a test pumps it
/// with <see cref="RunOne"/> or <see cref="RunUntilIdle"/>, on the test's own thread.
/// </summary>
/// <remarks>
/// <para>Invariants (proved in <c>tests/Transport.Tests/Mock/ManualSpawnerTests.cs</c>):</para>
/// <list type="bullet">
/// <item>Scheduler.S1: queued tasks run only inside a pump call, in FIFO order, on the pumping thread (<c>S1_nothing_runs_until_pumped_then_fifo</c>).</item>
/// <item>Scheduler.S2: inline execution is refused unless asked on the thread that is pumping right now,
/// so a continuation triggered from the test thread (a timer fired by <c>Advance</c>, a channel
/// write, a socket delivery) is queued, not run behind the test's back (<c>S2_inline_execution_is_refused_off_the_pumping_thread</c>).</item>
/// <item>Scheduler.S3: while a task runs, <see cref="SynchronizationContext.Current"/> is null. A test
/// framework's context (xunit installs one) would otherwise capture every <c>await</c> and
/// send its continuation to the thread pool (<c>S3_awaits_inside_pumped_work_come_back_here</c>).</item>
/// <item>Scheduler.S4: one pump at a time: pumping from two threads, or from inside a pumped task, throws
/// (<c>S4_reentrant_pumping_throws</c>).</item>
/// <item>Scheduler.S5 (with <see cref="ManualSpawner"/>): a wait made outside the pump for the actor's shutdown
/// completes when the test pumps (<c>ManualSpawner.RunUntilCompleted</c>) or fails with a message
/// saying to pump once nothing is pumped for <c>UnpumpedWaitTimeout</c>; it never hangs
/// (<c>tests/Transport.Tests/Mock/PumpedDisposeTests.cs</c>).</item>
/// </list>
/// </remarks>
public sealed class ManualTaskScheduler : TaskScheduler
{
    private readonly Lock _gate = new();

    // Guarded by _gate: tasks waiting to run (FIFO) and the thread that is pumping (0 = none).
    private readonly LinkedList<Task> _queue = new();
    private int _pumpingThreadId;

    // Incremented (under _gate) each time a task is dequeued to run: the ManualSpawner's
    // unpumped-wait watchdog reads it to tell "nobody is pumping" from "pumping is slow".
    private long _tasksRun;

    /// <summary>One: everything runs on the pumping thread, one task at a time.</summary>
    public override int MaximumConcurrencyLevel => 1;

    /// <summary>How many tasks are queued and not yet run.</summary>
    public int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>How many tasks pumps have run so far (monotonic).</summary>
    public long TasksRun
    {
        get
        {
            lock (_gate)
            {
                return _tasksRun;
            }
        }
    }

    /// <summary>True when the calling thread is pumping this scheduler right now (inside pumped work).</summary>
    public bool IsPumpingOnCurrentThread
    {
        get
        {
            lock (_gate)
            {
                return _pumpingThreadId == Environment.CurrentManagedThreadId;
            }
        }
    }

    /// <summary>Runs the oldest queued task on the calling thread.</summary>
    /// <returns>True when a task was dequeued and run; false when the queue was empty.</returns>
    /// <exception cref="InvalidOperationException">Another pump is in progress (Scheduler.S4).</exception>
    public bool RunOne()
    {
        Task task;
        var me = Environment.CurrentManagedThreadId;
        lock (_gate)
        {
            if (_pumpingThreadId != 0)
            {
                throw new InvalidOperationException(
                    _pumpingThreadId == me
                        ? "ManualTaskScheduler is already pumping on this thread: do not pump from inside pumped work."
                        : "ManualTaskScheduler is already being pumped by another thread.");
            }

            if (_queue.First is not { } first)
            {
                return false;
            }

            task = first.Value;
            _queue.RemoveFirst();
            _pumpingThreadId = me;
            _tasksRun++;
        }

        var savedContext = SynchronizationContext.Current;
        try
        {
            // Scheduler.S3: no ambient context, so awaits capture TaskScheduler.Current (this scheduler).
            SynchronizationContext.SetSynchronizationContext(null);

            // TryExecuteTask stores the work's exception in the task: nothing is swallowed, it
            // surfaces through whoever awaits that task.
            TryExecuteTask(task);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(savedContext);
            lock (_gate)
            {
                _pumpingThreadId = 0;
            }
        }

        return true;
    }

    /// <summary>Runs queued tasks on the calling thread until none is queued.</summary>
    /// <param name="maxSteps">The most tasks to run before declaring a livelock.</param>
    /// <returns>How many tasks ran.</returns>
    /// <exception cref="InvalidOperationException">
    /// Work was still queued after <paramref name="maxSteps"/> tasks ran: something keeps
    /// re-queuing itself (a livelock), which a deterministic test must not hide.
    /// </exception>
    public int RunUntilIdle(int maxSteps = 1_000_000)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxSteps);
        var steps = 0;
        while (true)
        {
            if (steps == maxSteps)
            {
                var pending = PendingCount;
                if (pending > 0)
                {
                    throw new InvalidOperationException(
                        $"ManualTaskScheduler did not go idle after {maxSteps} steps ({pending} still queued): likely a livelock.");
                }

                return steps;
            }

            if (!RunOne())
            {
                return steps;
            }

            steps++;
        }
    }

    /// <inheritdoc />
    protected override void QueueTask(Task task)
    {
        ArgumentNullException.ThrowIfNull(task);
        lock (_gate)
        {
            _queue.AddLast(task);
        }
    }

    /// <inheritdoc />
    protected override bool TryDequeue(Task task)
    {
        lock (_gate)
        {
            return _queue.Remove(task);
        }
    }

    /// <summary>Scheduler.S2: runs <paramref name="task"/> inline only when called on the thread pumping right now.</summary>
    /// <param name="task">The task.</param>
    /// <param name="taskWasPreviouslyQueued">Whether it sits in the queue.</param>
    /// <returns>True when it ran inline.</returns>
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued)
    {
        lock (_gate)
        {
            if (_pumpingThreadId != Environment.CurrentManagedThreadId)
            {
                return false;
            }

            if (taskWasPreviouslyQueued && !_queue.Remove(task))
            {
                return false;
            }
        }

        Debug.Assert(SynchronizationContext.Current is null, "The pump cleared the context.");
        return TryExecuteTask(task);
    }

    /// <inheritdoc />
    protected override IEnumerable<Task> GetScheduledTasks()
    {
        lock (_gate)
        {
            return [.. _queue];
        }
    }
}
