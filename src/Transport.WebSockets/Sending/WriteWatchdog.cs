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
/// Write.W3 a connection that has written nothing for WriteTimeout has no timer and wakes for nothing:
///    the watch parks and the next write's start wakes it (issue 24: 10,000 idle connections each
///    woke every WriteTimeout, 5.5 µs of CPU per connection per second against raw's 0.2). A write
///    starting while it parks is never missed (WriteWatchdogTests).
/// </para>
/// </remarks>
internal sealed class WriteWatchdog
{
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;

    // The timestamp the write in flight started at (> 0); when none is in flight, minus the start of the
    // last write (0 before the first). Writer writes, watch reads.
    private long _startedAt;

    // 1 while the watch is parked (no write for WriteTimeout): the next Started wakes it (Write.W3).
    private int _parked;
    private TaskCompletionSource? _wake;

    public WriteWatchdog(TimeSpan timeout, TimeProvider time)
    {
        _timeout = timeout;
        _time = time;
    }

    /// <summary>The writer is about to write.</summary>
    public void Started()
    {
        // A full fence between publishing the start and reading _parked (it pairs with Park's): either
        // the parking watch sees this write in flight, or this write sees the watch parked and wakes it.
        Interlocked.Exchange(ref _startedAt, Math.Max(1, _time.GetTimestamp()));
        if (Volatile.Read(ref _parked) != 0)
        {
            Unpark();
        }
    }

    /// <summary>The write completed (or failed by itself).</summary>
    public void Completed() => Volatile.Write(ref _startedAt, -Math.Abs(Volatile.Read(ref _startedAt)));

    /// <summary>True while the watch is parked (no timer: it waits for a write to start). For tests.</summary>
    internal bool IsParked => Volatile.Read(ref _parked) != 0;

    /// <summary>How long until the write in flight would stall; null when it already has.</summary>
    /// <returns>The time to sleep before checking again.</returns>
    public TimeSpan? UntilStall()
    {
        var started = Volatile.Read(ref _startedAt);
        if (started <= 0)
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
                if (QuietFor(_timeout))
                {
                    // Not WaitAsync: its completion hops through the thread pool, while this await resumes
                    // on the session's scheduler straight from Started (ADR 0003: a pumped test sees it).
                    Task parked = Park();
                    using (cancellationToken.Register(static s => ((TaskCompletionSource)s!).TrySetCanceled(), _wake))
                    {
                        await parked;
                    }

                    continue;
                }

                await Task.Delay(wait, _time, cancellationToken);
            }

            stalled(TransportException.Timeout($"A write did not complete within Send.WriteTimeout ({_timeout}): the peer stopped reading or the path is dead."));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The session ended.
        }
    }

    // No write in flight, and none started for at least `quiet` (or ever).
    private bool QuietFor(TimeSpan quiet)
    {
        var state = Volatile.Read(ref _startedAt);
        return state == 0 || (state < 0 && _time.GetElapsedTime(-state) >= quiet);
    }

    // Parks until a write starts; completes at once when one started meanwhile (Write.W3).
    private Task Park()
    {
        var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _wake = wake;
        Interlocked.Exchange(ref _parked, 1);
        if (Volatile.Read(ref _startedAt) > 0)
        {
            Unpark(); // a write started between the check and the park
        }

        return wake.Task;
    }

    private void Unpark()
    {
        if (Interlocked.Exchange(ref _parked, 0) != 0)
        {
            _wake!.TrySetResult();
        }
    }
}
