using Transport.WebSockets.Connection;

namespace Transport.WebSockets.Liveness;

/// <summary>
/// The passive idle watch of one session, saying only what it knows. The receive loop stamps every
/// inbound frame (<see cref="FrameArrived"/>); the watch loop (<see cref="RunAsync"/>) wakes when a
/// threshold could be crossed (<see cref="LivenessSchedule"/>):
/// data silence for <c>StaleAfter</c> marks the connection Stale (a signal, the socket stays);
/// silence of every frame the leaf can see for <c>DeadAfter</c> is a dead transport, applied only
/// when the leaf surfaces pings or pongs (elsewhere a quiet, healthy connection looks the same, and
/// the leaf's keep-alive timeout is the dead signal); data silence for the opt-in
/// <c>ReconnectAfterDataSilence</c> tears the socket down whatever pings still arrive.
/// </summary>
/// <remarks>
/// <para>
/// One watch per session (epoch): a new session starts fresh, with the clock stamped at its start.
/// The receive loop and the watch loop run concurrently on the thread pool in production.
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Liveness.L1 the Stale mark and its publication change together under <see cref="_gate"/>: a fresh frame and the watch cannot leave the phase Stale while frames flow.</item>
/// <item>Liveness.L2 the watch marks Stale no earlier than StaleAfter after the last data frame, and reports dead no earlier than DeadAfter after the last frame of any kind.</item>
/// <item>Liveness.L3 the receive hot path does no timer work: timestamp writes per frame, and the lock only when the mark is set.</item>
/// <item>Liveness.L4 any inbound frame the leaf can see (ping, pong, data) proves the transport alive; only data clears Stale (test: L4_pings_keep_the_transport_alive_but_not_fresh).</item>
/// <item>Liveness.L5 DeadAfter is not applied to a leaf that cannot see pings or pongs; data silence alone never tears a socket down unless ReconnectAfterDataSilence is set (tests: L5_quiet_cws_like_leaf_is_stale_not_dead, L5_opt_in_data_silence_reconnects).</item>
/// <item>Liveness.L6 a liveness timeout reports the last sign of life, which becomes DownSince (test: L6_down_since_is_the_last_sign_of_life).</item>
/// </list>
/// </remarks>
internal sealed class LivenessWatch
{
    private readonly TimeSpan? _staleAfter;
    private readonly TimeSpan? _deadAfter;
    private readonly TimeSpan? _silenceAfter;
    private readonly TimeProvider _time;
    private readonly PhaseMachine _phases;
    private readonly Action<TransportException, DateTimeOffset> _dead;

    // Guards the Stale mark together with its publication (Liveness.L1).
    private readonly object _gate = new();
    private volatile bool _stale;
    private long _lastFrameTimestamp;
    private long _lastDataTimestamp;

    /// <param name="options">The thresholds; all null (or not applicable) disables the watch.</param>
    /// <param name="capabilities">What the leaf can see: DeadAfter applies only when it surfaces pings or pongs.</param>
    /// <param name="time">The clock.</param>
    /// <param name="phases">Where Stale and Fresh are published.</param>
    /// <param name="dead">Called once, from the watch loop, with the error and the last sign of life.</param>
    public LivenessWatch(LivenessOptions options, LeafCapabilities capabilities, TimeProvider time, PhaseMachine phases, Action<TransportException, DateTimeOffset> dead)
    {
        _staleAfter = options.StaleAfter;
        DeadAfterIgnored = options.DeadAfter is not null && !CanSeeControlFrames(capabilities);
        _deadAfter = DeadAfterIgnored ? null : options.DeadAfter;
        _silenceAfter = options.ReconnectAfterDataSilence;
        _time = time;
        _phases = phases;
        _dead = dead;
        _lastFrameTimestamp = _lastDataTimestamp = time.GetTimestamp();
    }

    /// <summary>Whether a threshold applies; when not, nothing is tracked and <see cref="RunAsync"/> need not run.</summary>
    public bool Enabled => _staleAfter is not null || _deadAfter is not null || _silenceAfter is not null;

    /// <summary>True when DeadAfter is configured but the leaf cannot see pings or pongs (Liveness.L5).</summary>
    public bool DeadAfterIgnored { get; }

    /// <summary>Whether the connection is marked Stale now.</summary>
    public bool IsStale => _stale;

    /// <summary>Time since the last inbound frame of any kind (or since the session started).</summary>
    public TimeSpan Idle => _time.GetElapsedTime(Interlocked.Read(ref _lastFrameTimestamp));

    /// <summary>Time since the last data frame (or since the session started).</summary>
    public TimeSpan DataIdle => _time.GetElapsedTime(Interlocked.Read(ref _lastDataTimestamp));

    /// <summary>Whether a leaf with <paramref name="capabilities"/> sees inbound control frames.</summary>
    public static bool CanSeeControlFrames(LeafCapabilities capabilities) =>
        (capabilities & (LeafCapabilities.SurfacesPings | LeafCapabilities.SurfacesPongs)) != 0;

    /// <summary>Called by the receive loop for every inbound frame (Liveness.L4).</summary>
    /// <param name="isData">True for text and binary frames.</param>
    public void FrameArrived(bool isData)
    {
        if (!Enabled)
        {
            return;
        }

        var now = _time.GetTimestamp();
        Interlocked.Exchange(ref _lastFrameTimestamp, now);
        if (!isData)
        {
            return;
        }

        Interlocked.Exchange(ref _lastDataTimestamp, now);
        if (_stale)
        {
            MarkFresh();
        }
    }

    /// <summary>The watch loop; returns when a dead threshold passed (after calling the dead callback) or when cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var idle = Idle;
                var dataIdle = DataIdle;
                if (_deadAfter is { } dead && idle >= dead)
                {
                    _dead(TransportException.Timeout($"No inbound frame for {dead} (Liveness.DeadAfter)."), LastSignOfLife(idle));
                    return;
                }

                if (_silenceAfter is { } silence && dataIdle >= silence)
                {
                    _dead(TransportException.Timeout($"No data frame for {silence} (Liveness.ReconnectAfterDataSilence)."), LastSignOfLife(dataIdle));
                    return;
                }

                if (_staleAfter is { } stale && !_stale && dataIdle >= stale)
                {
                    MarkStale(dataIdle, stale);
                }

                var wait = LivenessSchedule.NextCheck(idle, dataIdle, _staleAfter, _deadAfter, _silenceAfter, _stale);
                await Task.Delay(wait, _time, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The session ended.
        }
    }

    // Liveness.L6: the wall-clock time of the last sign of life, from the monotonic idle time.
    private DateTimeOffset LastSignOfLife(TimeSpan idle) => _time.GetUtcNow() - idle;

    private void MarkStale(TimeSpan idle, TimeSpan staleAfter)
    {
        lock (_gate)
        {
            // Re-check under the lock: a data frame may have arrived since the watch measured.
            if (_stale || DataIdle < staleAfter)
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
