namespace Transport;

/// <summary>
/// The one place the stack starts long-lived work: the connection actor and the lifecycle
/// deliveries. Production runs it on the thread pool; Transport.Mock runs it on a scheduler the
/// test pumps by hand.
/// </summary>
/// <remarks>
/// The rule that makes a pumped spawn deterministic: code started here awaits without
/// <c>ConfigureAwait(false)</c> (so continuations return to the scheduler it was started on),
/// never calls <c>Task.Run</c>, and takes all time from the injected <see cref="TimeProvider"/>.
/// </remarks>
public interface ISpawner
{
    /// <summary>Starts <paramref name="work"/> and returns its completion.</summary>
    /// <param name="work">The long-lived work.</param>
    /// <returns>The work's task.</returns>
    Task Spawn(Func<Task> work);
}

/// <summary>Runs spawned work on the thread pool.</summary>
public sealed class ThreadPoolSpawner : ISpawner
{
    /// <summary>The shared instance.</summary>
    public static ThreadPoolSpawner Instance { get; } = new();

    /// <inheritdoc />
    /// <remarks>
    /// Queued with <see cref="TaskCreationOptions.PreferFairness"/>: the work goes to the pool's global
    /// queue, not the calling thread's local one, so a caller that blocks its (pool) thread right after
    /// starting a connection cannot hold the actor's start hostage until another worker steals it.
    /// </remarks>
    public Task Spawn(Func<Task> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        return Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.PreferFairness | TaskCreationOptions.DenyChildAttach, TaskScheduler.Default).Unwrap();
    }
}
