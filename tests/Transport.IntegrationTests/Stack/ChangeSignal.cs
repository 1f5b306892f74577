namespace Transport.IntegrationTests.Stack;

/// <summary>
/// Lets a test wait on a condition over state that other threads change: every change pulses the
/// signal and waiters re-check. Waits are bounded; nothing polls on a timer.
/// </summary>
internal sealed class ChangeSignal
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _watched; // guarded by _lock: someone holds _changed, so a pulse must fire it

    /// <summary>Cheap when nobody waits (hot paths pulse per frame).</summary>
    public void Pulse()
    {
        TaskCompletionSource fired;
        lock (_lock)
        {
            if (!_watched)
            {
                return;
            }

            fired = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _watched = false;
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
                _watched = true;
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
