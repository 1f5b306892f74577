namespace Transport.IntegrationTests.Stack;

/// <summary>
/// Lets a test wait on a condition over state that other threads change: every change pulses the
/// signal and waiters re-check. Waits are bounded; nothing polls on a timer.
/// </summary>
internal sealed class ChangeSignal
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Pulse()
    {
        TaskCompletionSource fired;
        lock (_lock)
        {
            fired = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        fired.TrySetResult();
    }

    /// <summary>Waits until <paramref name="condition"/> holds; <see cref="TimeoutException"/> (with <paramref name="what"/>) after <paramref name="timeout"/>.</summary>
    public async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        using var bound = new CancellationTokenSource(timeout);
        while (true)
        {
            Task next;
            lock (_lock)
            {
                next = _changed.Task;
            }

            if (condition())
            {
                return;
            }

            try
            {
                await next.WaitAsync(bound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting for: {what}");
            }
        }
    }
}
