namespace Transport.WebSockets.Sending;

/// <summary>
/// Detects a write that does not complete within <c>Send.WriteTimeout</c> (a peer that stopped
/// reading fills the TCP buffers, and every later send would wait behind that write forever).
/// </summary>
/// <remarks>
/// <para>
/// Stamp and watch, as the liveness watch does: the writer stamps the start of each write (one
/// <see cref="TimeProvider.GetTimestamp"/> and two volatile writes per frame, no timer work on the
/// hot path); <see cref="RunAsync"/> wakes when the write in flight could cross the bound, on the
/// injected clock, and reports a stall exactly at start + WriteTimeout.
/// </para>
/// <para>
/// Write.W1 a write still pending WriteTimeout after it started ends the session as Failed with a
///    Timeout (the socket is treated as dead and rebuilt); a write that completes in time never
///    does (tests: Item10_write_stalled_past_WriteTimeout_reconnects_and_resends_at_least_once,
///    Item10_write_completing_just_in_time_is_not_a_stall).
/// Write.W2 a frame whose write was interrupted is resent on the next connection when its
///    delivery is AtLeastOnce and fails with WriteInterrupted when AtMostOnce; never both, never
///    neither (tests: Item10_*_at_most_once_*).
/// </para>
/// </remarks>
internal sealed class WriteWatchdog
{
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;

    // The timestamp the write in flight started at; 0 when none is in flight. Writer writes, watch reads.
    private long _startedAt;

    public WriteWatchdog(TimeSpan timeout, TimeProvider time)
    {
        _timeout = timeout;
        _time = time;
    }

    /// <summary>The writer is about to write.</summary>
    public void Started() => Volatile.Write(ref _startedAt, Math.Max(1, _time.GetTimestamp()));

    /// <summary>The write completed (or failed by itself).</summary>
    public void Completed() => Volatile.Write(ref _startedAt, 0);

    /// <summary>How long until the write in flight would stall; null when it already has.</summary>
    /// <returns>The time to sleep before checking again.</returns>
    public TimeSpan? UntilStall()
    {
        var started = Volatile.Read(ref _startedAt);
        if (started == 0)
        {
            return _timeout; // a write starting now cannot stall before then
        }

        var elapsed = _time.GetElapsedTime(started);
        return elapsed >= _timeout ? null : _timeout - elapsed;
    }

    /// <summary>Watches until a write stalls (then calls <paramref name="stalled"/> once) or the session ends.</summary>
    /// <param name="stalled">Ends the session.</param>
    /// <param name="cancellationToken">The session's end.</param>
    public async Task RunAsync(Action<TransportException> stalled, CancellationToken cancellationToken)
    {
        try
        {
            // On the session's path: awaits without ConfigureAwait(false) (ADR 0003).
            while (UntilStall() is { } wait)
            {
                await Task.Delay(wait, _time, cancellationToken);
            }

            stalled(TransportException.Timeout($"A write did not complete within Send.WriteTimeout ({_timeout}): the peer stopped reading or the path is dead."));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The session ended.
        }
    }
}
