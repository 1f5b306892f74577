namespace TradingAdapters;

/// <summary>
/// "Something changed": an adapter pulses it after every state change (a frame handled, a counter
/// advanced), and <see cref="WaitForAsync"/> re-evaluates a condition after each pulse instead of
/// polling. A pulse with nobody waiting is one volatile read, so the tick path stays cheap.
/// </summary>
public sealed class ChangeSignal
{
    private TaskCompletionSource? _next; // completed (and cleared) by the next pulse; created by waiters
    private int _waiters;

    /// <summary>Wakes every current waiter to re-check its condition. Call after the state changed.</summary>
    public void Pulse()
    {
        // Pairs with the waiter's increment (both full fences): either the waiter's condition sees the
        // change, or this read sees the waiter.
        if (Volatile.Read(ref _waiters) == 0) return;
        Interlocked.Exchange(ref _next, null)?.TrySetResult();
    }

    /// <summary>
    /// Completes once <paramref name="condition"/> holds: evaluated now and after every pulse. Bound it
    /// with <paramref name="cancellationToken"/> (or <c>WaitAsync</c>).
    /// </summary>
    public async Task WaitForAsync(Func<bool> condition, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        Interlocked.Increment(ref _waiters);
        try
        {
            while (true)
            {
                // Take the signal before evaluating: a pulse in between completes it.
                var signal = Volatile.Read(ref _next);
                if (signal is null)
                {
                    var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    signal = Interlocked.CompareExchange(ref _next, fresh, null) ?? fresh;
                }

                if (condition()) return;
                await signal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiters);
        }
    }
}
