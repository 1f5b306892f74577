namespace Transport.Mock;

/// <summary>
/// One operation a test double holds open (a hung connect, a receive waiting for a delivery, a
/// hung send or close) until something completes it or its token fires.
/// </summary>
/// <remarks>
/// The task runs continuations asynchronously: whoever completes it (a test-thread delivery, a
/// cancellation fired by the manual clock, or other pumped work) never runs the awaiting
/// actor's continuation inline. That continuation is queued back on the actor's own scheduler,
/// so ordering stays what the pump decides. Callers complete it outside their locks.
/// </remarks>
internal sealed class PendingOperation<T>
{
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private CancellationTokenRegistration _registration; // guarded by _gate (a struct: no torn reads across threads)

    public Task<T> Task => _completion.Task;

    /// <summary>
    /// Hooks <paramref name="cancellationToken"/>. Call it outside the owner's lock:
    /// <paramref name="onCancelled"/> may run synchronously here when the token already fired.
    /// </summary>
    public void CancelWith(CancellationToken cancellationToken, Action<PendingOperation<T>> onCancelled)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return;
        }

        var registration = cancellationToken.Register(() =>
        {
            onCancelled(this);
            _completion.TrySetCanceled(cancellationToken);
        });

        lock (_gate)
        {
            _registration = registration;
        }

        // Completed between creation and registration: drop the registration so it does not leak.
        if (_completion.Task.IsCompleted)
        {
            Unregister();
        }
    }

    public bool TrySetResult(T value)
    {
        Unregister();
        return _completion.TrySetResult(value);
    }

    public bool TrySetException(Exception error)
    {
        Unregister();
        return _completion.TrySetException(error);
    }

    // Unregister (not Dispose): it never blocks waiting for a running callback.
    private void Unregister()
    {
        CancellationTokenRegistration registration;
        lock (_gate)
        {
            registration = _registration;
        }

        registration.Unregister();
    }
}
