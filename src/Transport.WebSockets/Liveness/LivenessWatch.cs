using Transport.WebSockets.Connection;

namespace Transport.WebSockets.Liveness;

/// <summary>
/// The passive idle watch of one session: the receive loop stamps the time of the last frame
/// (<see cref="FrameArrived"/>); the watch loop (<see cref="RunAsync"/>) wakes when a threshold
/// could be crossed (<see cref="LivenessSchedule"/>), marks the connection Stale after
/// <c>StaleAfter</c> and ends the session after <c>DeadAfter</c>. A frame clears the Stale mark.
/// </summary>
/// <remarks>
/// <para>
/// One watch per session (epoch): a new session starts fresh, with the clock stamped at its start.
/// The receive loop and the watch loop run concurrently on the thread pool in production.
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Liveness.L1 the Stale mark and its publication change together under <see cref="_gate"/>: a fresh frame and the watch cannot leave the phase Stale while frames flow.</item>
/// <item>Liveness.L2 the watch marks Stale no earlier than StaleAfter after the last frame, and reports dead no earlier than DeadAfter after it.</item>
/// <item>Liveness.L3 the receive hot path does no timer work: one timestamp write per frame, and the lock only when the mark is set.</item>
/// </list>
/// </remarks>
internal sealed class LivenessWatch
{
    private readonly TimeSpan? _staleAfter;
    private readonly TimeSpan? _deadAfter;
    private readonly TimeProvider _time;
    private readonly PhaseMachine _phases;
    private readonly Action<TransportException> _dead;

    // Guards the Stale mark together with its publication (Liveness.L1).
    private readonly object _gate = new();
    private volatile bool _stale;
    private long _lastFrameTimestamp;

    /// <param name="options">StaleAfter and DeadAfter; both null disables the watch.</param>
    /// <param name="time">The clock.</param>
    /// <param name="phases">Where Stale and Fresh are published.</param>
    /// <param name="dead">Called once, from the watch loop, when no frame arrived for DeadAfter.</param>
    public LivenessWatch(LivenessOptions options, TimeProvider time, PhaseMachine phases, Action<TransportException> dead)
    {
        _staleAfter = options.StaleAfter;
        _deadAfter = options.DeadAfter;
        _time = time;
        _phases = phases;
        _dead = dead;
        _lastFrameTimestamp = time.GetTimestamp();
    }

    /// <summary>Whether a threshold is configured; when not, nothing is tracked and <see cref="RunAsync"/> need not run.</summary>
    public bool Enabled => _staleAfter is not null || _deadAfter is not null;

    /// <summary>Whether the connection is marked Stale now.</summary>
    public bool IsStale => _stale;

    /// <summary>Time since the last frame (or since the session started).</summary>
    public TimeSpan Idle => _time.GetElapsedTime(Interlocked.Read(ref _lastFrameTimestamp));

    /// <summary>Called by the receive loop for every frame.</summary>
    public void FrameArrived()
    {
        if (!Enabled)
        {
            return;
        }

        Interlocked.Exchange(ref _lastFrameTimestamp, _time.GetTimestamp());
        if (_stale)
        {
            MarkFresh();
        }
    }

    /// <summary>The watch loop; returns when DeadAfter passed (after calling the dead callback) or when cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var idle = Idle;
                if (_deadAfter is { } dead && idle >= dead)
                {
                    _dead(TransportException.Timeout($"No frame for {dead} (Liveness.DeadAfter)."));
                    return;
                }

                if (_staleAfter is { } stale && !_stale && idle >= stale)
                {
                    MarkStale(idle, stale);
                }

                var wait = LivenessSchedule.NextCheck(idle, _staleAfter, _deadAfter, _stale);
                await Task.Delay(wait, _time, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The session ended.
        }
    }

    private void MarkStale(TimeSpan idle, TimeSpan staleAfter)
    {
        lock (_gate)
        {
            // Re-check under the lock: a frame may have arrived since the watch measured.
            if (_stale || Idle < staleAfter)
            {
                return;
            }

            _stale = true;
            _phases.WentStale(idle);
        }
    }

    private void MarkFresh()
    {
        lock (_gate)
        {
            if (!_stale)
            {
                return;
            }

            _stale = false;
            _phases.Freshened();
        }
    }
}
