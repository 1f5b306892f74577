namespace Transport.Tests.Buffering;

/// <summary>
/// A single-threaded scheduler the test steps by hand: queued work runs only inside
/// <see cref="RunUntilIdle"/>, on the test's thread. Enough to show where ring continuations go.
/// </summary>
internal sealed class PumpedTestScheduler : TaskScheduler
{
    private readonly Queue<Task> _queue = new();
    private readonly Lock _lock = new();

    /// <summary>Work items queued and not yet run.</summary>
    public int Pending
    {
        get { lock (_lock) { return _queue.Count; } }
    }

    /// <summary>Starts <paramref name="body"/> on this scheduler (it runs at the next pump).</summary>
    public Task Run(Func<Task> body) =>
        Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.DenyChildAttach, this).Unwrap();

    /// <summary>Runs queued work, including work queued while running, until none is left.</summary>
    /// <returns>How many items ran.</returns>
    public int RunUntilIdle()
    {
        // await captures SynchronizationContext.Current in preference to TaskScheduler.Current,
        // and xunit runs tests under its own context: without clearing it, continuations would
        // be posted to xunit's threads instead of coming back to this pump.
        SynchronizationContext? outer = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            int ran = 0;
            while (true)
            {
                Task? next;
                lock (_lock)
                {
                    if (!_queue.TryDequeue(out next))
                    {
                        return ran;
                    }
                }

                TryExecuteTask(next);
                ran++;
            }
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(outer);
        }
    }

    protected override void QueueTask(Task task)
    {
        lock (_lock)
        {
            _queue.Enqueue(task);
        }
    }

    // Never inline: work runs only when the test pumps.
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

    protected override IEnumerable<Task> GetScheduledTasks()
    {
        lock (_lock)
        {
            return _queue.ToArray();
        }
    }
}
