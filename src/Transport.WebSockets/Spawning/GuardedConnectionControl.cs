namespace Transport.WebSockets.Spawning;

/// <summary>
/// Wraps a connection's control when its spawner is an <see cref="IExternalWaitGuard"/> (a test's
/// pumped scheduler): the caller's wait for shutdown goes through the guard, so an
/// <c>await conn.DisposeAsync()</c> that nobody pumps fails with a message instead of hanging.
/// </summary>
internal sealed class GuardedConnectionControl : IConnectionControl
{
    private readonly IConnectionControl _inner;
    private readonly IExternalWaitGuard _guard;
    private readonly Lock _gate = new();

    // Guarded by _gate: the last shutdown task and its guarded copy, so repeated calls return the
    // same completion (shutdown has a single owner) unless the guard already failed it.
    private Task? _lastInner;
    private Task? _lastGuarded;

    public GuardedConnectionControl(IConnectionControl inner, IExternalWaitGuard guard)
    {
        _inner = inner;
        _guard = guard;
    }

    public ReconnectTrigger ReconnectTrigger => _inner.ReconnectTrigger;

    public Task ShutdownAsync(CancellationToken cancellationToken = default)
    {
        var inner = _inner.ShutdownAsync(cancellationToken);
        lock (_gate)
        {
            if (ReferenceEquals(inner, _lastInner) && _lastGuarded is { IsFaulted: false } same)
            {
                return same;
            }

            _lastInner = inner;
            _lastGuarded = _guard.GuardExternalWait(inner, nameof(ShutdownAsync) + " (or DisposeAsync)");
            return _lastGuarded;
        }
    }

    public Task<RotationResult> RotateAsync(CancellationToken cancellationToken = default)
    {
        var inner = _inner.RotateAsync(cancellationToken);
        var guarded = _guard.GuardExternalWait(inner, nameof(RotateAsync));
        if (ReferenceEquals(guarded, inner))
        {
            return inner;
        }

        // Completes inside the pump step that completed the guarded wait (no hop a pumped test cannot step).
        return guarded.ContinueWith(
            static (g, state) =>
            {
                g.GetAwaiter().GetResult(); // the guard's failure, when nothing pumped
                return ((Task<RotationResult>)state!).GetAwaiter().GetResult();
            },
            inner,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Wraps <paramref name="control"/> when <paramref name="spawner"/> guards external waits.</summary>
    public static IConnectionControl For(IConnectionControl control, ISpawner spawner) =>
        spawner is IExternalWaitGuard guard ? new GuardedConnectionControl(control, guard) : control;
}
