namespace Transport.WebSockets.Liveness;

/// <summary>
/// Pure arithmetic for the passive idle watch: when to look again. The watch does not reset a
/// timer per frame (that would put timer work on the receive hot path); the receive loop only
/// stamps the time of the last frame, and the watch wakes at the next instant a threshold could
/// be crossed.
/// </summary>
internal static class LivenessSchedule
{
    /// <summary>The delay until the next check.</summary>
    /// <param name="idle">Time since the last frame.</param>
    /// <param name="staleAfter">The Stale threshold, if configured.</param>
    /// <param name="deadAfter">The dead threshold, if configured.</param>
    /// <param name="isStale">Whether the connection is marked Stale now.</param>
    public static TimeSpan NextCheck(TimeSpan idle, TimeSpan? staleAfter, TimeSpan? deadAfter, bool isStale)
    {
        var next = TimeSpan.MaxValue;
        if (staleAfter is { } stale)
        {
            // While stale, a frame may clear the mark at any time, and the next silence must be
            // caught a full StaleAfter later: look again at most StaleAfter from now.
            next = isStale ? stale : stale - idle;
        }

        if (deadAfter is { } dead && dead - idle < next)
        {
            next = dead - idle;
        }

        return next <= TimeSpan.Zero ? TimeSpan.FromTicks(1) : next;
    }

    /// <summary>The delay until the next check, with data idleness and transport idleness apart.</summary>
    /// <param name="anyIdle">Time since the last inbound frame of any kind the leaf can see.</param>
    /// <param name="dataIdle">Time since the last data frame.</param>
    /// <param name="staleAfter">The Stale threshold on data silence, if configured.</param>
    /// <param name="deadAfter">The dead threshold on transport silence, if configured and applicable to the leaf.</param>
    /// <param name="silenceAfter">The opt-in reconnect threshold on data silence, if configured.</param>
    /// <param name="isStale">Whether the connection is marked Stale now.</param>
    public static TimeSpan NextCheck(TimeSpan anyIdle, TimeSpan dataIdle, TimeSpan? staleAfter, TimeSpan? deadAfter, TimeSpan? silenceAfter, bool isStale)
    {
        var next = NextCheck(dataIdle, staleAfter, silenceAfter, isStale);
        if (deadAfter is { } dead && dead - anyIdle < next)
        {
            next = dead - anyIdle;
        }

        return next <= TimeSpan.Zero ? TimeSpan.FromTicks(1) : next;
    }
}
