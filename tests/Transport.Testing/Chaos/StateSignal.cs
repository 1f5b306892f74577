using System.Diagnostics;

namespace Transport.Testing.Chaos;

/// <summary>
/// Wakes waiters whenever the proxy's observable state changes, so tests wait on conditions instead of
/// sleeping. Each <see cref="Pulse"/> completes the current task and installs a fresh one.
/// </summary>
internal sealed class StateSignal
{
    private readonly object _gate = new();

    // Guarded by _gate. Completed (and replaced) by the next Pulse.
    private TaskCompletionSource _next = NewSource();

    public void Pulse()
    {
        TaskCompletionSource fired;
        lock (_gate)
        {
            fired = _next;
            _next = NewSource();
        }

        // Completed outside the lock; continuations run asynchronously, so a waiter never runs on the pump.
        fired.TrySetResult();
    }

    public async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            // Take the next-change task BEFORE evaluating the condition: a change between the two is then
            // never lost, because it completes the task we already hold.
            Task next;
            lock (_gate)
            {
                next = _next.Task;
            }

            if (condition())
            {
                return;
            }

            var remaining = timeout - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException($"The proxy condition did not hold within {timeout}.");
            }

            try
            {
                await next.WaitAsync(remaining).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Loop once more: the condition is evaluated a last time before giving up.
            }
        }
    }

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
