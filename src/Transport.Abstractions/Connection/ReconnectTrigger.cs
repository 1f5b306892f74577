namespace Transport;

/// <summary>
/// Asks the actor to drop the current connection and build a new one (for example a proactive
/// rotation before a venue's 24-hour limit). Fire-and-forget and coalescing: many calls before the
/// actor acts make one reconnect. A no-op after shutdown. Cheap to clone and hand to other components.
/// </summary>
public sealed class ReconnectTrigger
{
    private readonly Action<string> _signal;

    /// <summary>Creates a trigger over the actor's signal (used by stack implementations).</summary>
    /// <param name="signal">Raises the coalesced reconnect request; must not block.</param>
    public ReconnectTrigger(Action<string> signal)
    {
        ArgumentNullException.ThrowIfNull(signal);
        _signal = signal;
    }

    /// <summary>Requests a reconnect. Returns at once.</summary>
    /// <param name="reason">Why, for logs and traces.</param>
    public void ForceReconnect(string reason = "requested") => _signal(reason);

    /// <summary>Another trigger for the same connection.</summary>
    /// <returns>The clone.</returns>
    public ReconnectTrigger Clone() => new(_signal);
}
