namespace Transport;

/// <summary>
/// Implemented by an <see cref="ISpawner"/> whose work runs only when someone drives it (a test's
/// manually pumped scheduler). The stack hands it every task a caller outside the spawner awaits for
/// the actor to finish (<see cref="IConnectionControl.ShutdownAsync"/>, and so
/// <see cref="ReconnectingConnection.DisposeAsync"/>), so the spawner can fail that wait with a
/// message instead of letting it hang when nothing drives the work.
/// </summary>
/// <remarks>
/// The production <see cref="ThreadPoolSpawner"/> does not implement it: the thread pool always
/// drives its work. Transport.Mock's <c>ManualSpawner</c> does.
/// </remarks>
public interface IExternalWaitGuard
{
    /// <summary>
    /// Returns a task that completes as <paramref name="wait"/> does, or fails with an
    /// <see cref="InvalidOperationException"/> saying what to do when the spawner can tell that
    /// <paramref name="wait"/> will never complete by itself.
    /// </summary>
    /// <param name="wait">The task the caller is about to await.</param>
    /// <param name="operation">What the caller is waiting for, for the message (e.g. "ShutdownAsync").</param>
    /// <returns>The guarded task.</returns>
    Task GuardExternalWait(Task wait, string operation);
}
