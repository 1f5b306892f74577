using Microsoft.Extensions.Logging;
using Transport.WebSockets.Lifecycle;
using Transport.WebSockets.Telemetry;

namespace Transport.WebSockets.Connection;

/// <summary>
/// The one place where a connection's <see cref="ConnectionPhase"/> changes. Each transition is a
/// named method that checks the phase being left, publishes the snapshot, adds the trace event and
/// writes the log line together.
/// </summary>
/// <remarks>
/// <para>Transition table (every pair not listed is refused):</para>
/// <list type="table">
/// <listheader><term>method</term><description>from → to</description></listheader>
/// <item><term><see cref="Connected"/></term><description>Connecting → Connected (the first session that goes up; epoch 0 unless a socket before it failed its session initializer)</description></item>
/// <item><term><see cref="Resumed"/></term><description>Reconnecting → Resumed (epoch ≥ 1)</description></item>
/// <item><term><see cref="Rotated"/></term><description>Connected, Resumed, Stale → Resumed (epoch + 1, no down-edge: a make-before-break rotation switched sockets; UpSince restarts, DownSince and LastOutage unchanged)</description></item>
/// <item><term><see cref="Dropped"/></term><description>Connected, Resumed, Stale → Reconnecting</description></item>
/// <item><term><see cref="WentStale"/></term><description>Connected, Resumed → Stale</description></item>
/// <item><term><see cref="Freshened"/></term><description>Stale → the session's up phase (Connected for the first session that went up, Resumed after)</description></item>
/// <item><term><see cref="Terminated"/></term><description>Connecting, Connected, Stale, Reconnecting, Resumed → Unrecoverable or Closed</description></item>
/// <item><term><see cref="AttemptFailed"/></term><description>Connecting → Connecting, Reconnecting → Reconnecting (LastError only; traced)</description></item>
/// </list>
/// <para>
/// Nothing leaves Unrecoverable or Closed. A refused transition is a bug in the caller's ordering:
/// with <c>strict</c> (the default in Debug builds) it throws <see cref="InvalidOperationException"/>;
/// otherwise (Release) it logs an error and publishes nothing.
/// </para>
/// <para>
/// Thread safety: the coordinator, the receive loop (Freshened) and the liveness watch (WentStale)
/// call in concurrently in production. One lock (<see cref="_gate"/>) makes check, publish and trace
/// atomic, so the snapshot stream and the span events agree on the order. Publishing runs no user
/// code (the <see cref="LifecyclePublisher"/> delivers to observers through the spawner); the log
/// line is written after the lock is released.
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Phase.P1 only the transitions in the table above change the phase; every other one is refused and publishes nothing.</item>
/// <item>Phase.P2 every phase change is published, traced and logged together, and traced in publication order.</item>
/// <item>Phase.P3 a refused transition fails loudly when strict and is logged as an error otherwise.</item>
/// </list>
/// </remarks>
internal sealed partial class PhaseMachine
{
#if DEBUG
    /// <summary>Strict by default in Debug builds.</summary>
    public const bool DefaultStrict = true;
#else
    /// <summary>Lenient (log, do not throw) in Release builds.</summary>
    public const bool DefaultStrict = false;
#endif

    private readonly LifecyclePublisher _lifecycle;
    private readonly ConnectionTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly bool _strict;

    // Guards the check-publish-trace sequence of every transition.
    private readonly object _gate = new();

    // The up phase of the current session (Connected or Resumed), restored when Stale clears.
    private volatile ConnectionPhase _upPhase = ConnectionPhase.Connected;

    public PhaseMachine(LifecyclePublisher lifecycle, ConnectionTelemetry telemetry, ILogger logger, string name, bool strict = DefaultStrict)
    {
        _lifecycle = lifecycle;
        _telemetry = telemetry;
        _logger = logger;
        _name = name;
        _strict = strict;
    }

    /// <summary>The latest published snapshot.</summary>
    public LifecycleSnapshot Current => _lifecycle.Current;

    /// <summary>The up phase for an epoch: Connected for the first connection, Resumed after.</summary>
    public static ConnectionPhase UpPhaseFor(long epoch) => epoch == 0 ? ConnectionPhase.Connected : ConnectionPhase.Resumed;

    /// <summary>Whether the table allows <paramref name="from"/> → <paramref name="to"/>.</summary>
    public static bool IsAllowed(ConnectionPhase from, ConnectionPhase to) => (from, to) switch
    {
        (ConnectionPhase.Connecting, ConnectionPhase.Connected) => true,
        (ConnectionPhase.Reconnecting, ConnectionPhase.Resumed) => true,
        (ConnectionPhase.Connected or ConnectionPhase.Resumed or ConnectionPhase.Stale, ConnectionPhase.Reconnecting) => true,
        (ConnectionPhase.Connected or ConnectionPhase.Resumed, ConnectionPhase.Stale) => true,
        (ConnectionPhase.Stale, ConnectionPhase.Connected or ConnectionPhase.Resumed) => true,
        (ConnectionPhase.Connected or ConnectionPhase.Resumed, ConnectionPhase.Resumed) => true, // Rotated

        (ConnectionPhase.Connecting or ConnectionPhase.Reconnecting, ConnectionPhase.Connecting or ConnectionPhase.Reconnecting) => from == to,
        (not (ConnectionPhase.Unrecoverable or ConnectionPhase.Closed), ConnectionPhase.Unrecoverable or ConnectionPhase.Closed) => true,
        _ => false,
    };

    /// <summary>
    /// The first connection is up: Connecting → Connected. Its epoch is 0 unless earlier sockets
    /// opened but never went up (their session initializer failed): each socket has its own epoch.
    /// </summary>
    /// <param name="epoch">The socket's epoch.</param>
    /// <param name="attempts">Cumulative attempts, for the log.</param>
    /// <param name="now">The up-edge time (UpSince).</param>
    public bool Connected(long epoch, long attempts, DateTimeOffset now)
    {
        if (!Transition(nameof(Connected), ConnectionPhase.Connected, from => from == ConnectionPhase.Connecting,
                s => s with { Phase = ConnectionPhase.Connected, Epoch = epoch, DownSince = null, UpSince = now }))
        {
            return false;
        }

        _upPhase = ConnectionPhase.Connected;
        Log.Up(_logger, _name, ConnectionPhase.Connected, epoch, attempts);
        return true;
    }

    /// <summary>A connection after a down-cycle is up: Reconnecting → Resumed; LastOutage = now - DownSince.</summary>
    /// <param name="epoch">The socket's epoch.</param>
    /// <param name="attempts">Cumulative attempts, for the log.</param>
    /// <param name="now">The up-edge time (UpSince, and the end of the outage).</param>
    public bool Resumed(long epoch, long attempts, DateTimeOffset now)
    {
        if (!Transition(nameof(Resumed), ConnectionPhase.Resumed, from => from == ConnectionPhase.Reconnecting,
                s => s with
                {
                    Phase = ConnectionPhase.Resumed,
                    Epoch = epoch,
                    DownSince = null,
                    UpSince = now,
                    LastOutage = s.DownSince is { } down ? now - down : s.LastOutage,
                }))
        {
            return false;
        }

        _upPhase = ConnectionPhase.Resumed;
        Log.Up(_logger, _name, ConnectionPhase.Resumed, epoch, attempts);
        return true;
    }

    /// <summary>
    /// A make-before-break rotation switched to the next socket: Connected, Resumed or Stale → Resumed with
    /// the new epoch, without a down-edge (Rotation.T1).
    /// </summary>
    /// <param name="epoch">The new socket's epoch.</param>
    /// <param name="attempts">Cumulative attempts, for the log.</param>
    /// <param name="now">The switch time (UpSince).</param>
    public bool Rotated(long epoch, long attempts, DateTimeOffset now)
    {
        var from = Current.Phase;
        if (!Transition(nameof(Rotated), ConnectionPhase.Resumed, IsUpPhase,
                s => s with { Phase = ConnectionPhase.Resumed, Epoch = epoch, DownSince = null, UpSince = now }))
        {
            return false;
        }

        _upPhase = ConnectionPhase.Resumed;
        LogRotated(_logger, _name, from, epoch, attempts);
        return true;
    }

    /// <summary>The session of <paramref name="epoch"/> ended and a reconnect follows: Connected, Resumed or Stale → Reconnecting.</summary>
    /// <param name="end">Why it ended.</param>
    /// <param name="epoch">The session's epoch.</param>
    /// <param name="downSince">When the feed went down.</param>
    /// <param name="scheduled">The venue ended a healthy session cleanly (Budget.B5): logged at Information, not Warning.</param>
    public bool Dropped(SessionEnd end, long epoch, DateTimeOffset downSince, bool scheduled = false)
    {
        if (!Transition(nameof(Dropped), ConnectionPhase.Reconnecting, IsUpPhase,
                s => s with { Phase = ConnectionPhase.Reconnecting, DownSince = downSince, UpSince = null, LastError = end.Error ?? s.LastError }))
        {
            return false;
        }

        // A forced reconnect is a request, and a venue's clean close of a healthy session its schedule: neither is a failure.
        var forced = end.Reason == SessionEndReason.Forced;
        Log.SessionEnded(_logger, forced || scheduled ? LogLevel.Information : LogLevel.Warning, _name, epoch, Log.SessionEndCause(forced, end.Error), "reconnecting");
        return true;
    }

    /// <summary>No frame for StaleAfter: Connected or Resumed → Stale.</summary>
    public bool WentStale(TimeSpan idle)
    {
        if (!Transition(nameof(WentStale), ConnectionPhase.Stale, from => from is ConnectionPhase.Connected or ConnectionPhase.Resumed,
                s => s with { Phase = ConnectionPhase.Stale }))
        {
            return false;
        }

        Log.Stale(_logger, _name, idle, Current.Epoch);
        return true;
    }

    /// <summary>A frame arrived while Stale: Stale → the epoch's up phase.</summary>
    public bool Freshened()
    {
        var epoch = Current.Epoch;
        var up = _upPhase;
        if (!Transition(nameof(Freshened), up, from => from == ConnectionPhase.Stale, s => s with { Phase = up }))
        {
            return false;
        }

        Log.StaleRecovered(_logger, _name, up, epoch);
        return true;
    }

    /// <summary>The connection ends for good: any live phase → Unrecoverable or Closed.</summary>
    /// <param name="terminal">Unrecoverable or Closed.</param>
    /// <param name="exhausted">Whether MaxAttempts ran out (Closed with Exhausted set).</param>
    /// <param name="error">The final error, if any.</param>
    /// <param name="totalLagged">The ring's final lag count.</param>
    /// <param name="now">The time, for DownSince when the connection was up.</param>
    public bool Terminated(ConnectionPhase terminal, bool exhausted, TransportException? error, long totalLagged, DateTimeOffset now)
    {
        if (terminal is not (ConnectionPhase.Unrecoverable or ConnectionPhase.Closed))
        {
            throw new ArgumentOutOfRangeException(nameof(terminal), terminal, "A terminal phase is Unrecoverable or Closed.");
        }

        if (!Transition(nameof(Terminated), terminal, from => from is not (ConnectionPhase.Unrecoverable or ConnectionPhase.Closed),
                s => s with
                {
                    Phase = terminal,
                    Exhausted = s.Exhausted || exhausted,
                    LastError = error ?? s.LastError,
                    TotalLagged = totalLagged,
                    DownSince = s.DownSince ?? now,
                    UpSince = null,
                }))
        {
            return false;
        }

        if (terminal == ConnectionPhase.Closed && !exhausted)
        {
            var final = Current;
            Log.Closed(_logger, _name, final.Epoch, final.Attempts, final.TotalLagged);
        }

        return true;
    }

    /// <summary>An attempt failed and another follows: records LastError (traced); the phase stays Connecting or Reconnecting.</summary>
    public bool AttemptFailed(TransportException error, long attempt, TimeSpan delay)
    {
        var phase = Current.Phase;
        if (!Transition(nameof(AttemptFailed), phase, from => from is ConnectionPhase.Connecting or ConnectionPhase.Reconnecting && from == phase,
                s => s with { LastError = error }))
        {
            return false;
        }

        Log.AttemptFailed(_logger, _name, attempt, error.Kind, error.HttpStatus, error.CloseCode, delay, Describe(error));
        return true;
    }

    /// <summary>
    /// Publishes a change to fields other than the phase (attempt count, DownSince, lag), without a
    /// trace event. Changing the phase here is refused.
    /// </summary>
    public void Update(Func<LifecycleSnapshot, LifecycleSnapshot> change)
    {
        lock (_gate)
        {
            var before = _lifecycle.Current.Phase;
            var after = _lifecycle.Publish(change).Phase;
            if (after != before)
            {
                // Cannot be undone once published; fail loudly so the caller is fixed.
                Refuse(nameof(Update), before, after);
            }
        }
    }

    private static bool IsUpPhase(ConnectionPhase phase) => phase is ConnectionPhase.Connected or ConnectionPhase.Resumed or ConnectionPhase.Stale;

    private bool Transition(string name, ConnectionPhase to, Func<ConnectionPhase, bool> allowedFrom, Func<LifecycleSnapshot, LifecycleSnapshot> change)
    {
        lock (_gate)
        {
            var from = _lifecycle.Current.Phase;
            if (!allowedFrom(from))
            {
                Refuse(name, from, to);
                return false;
            }

            var next = _lifecycle.Publish(change);

            // Traced under the lock: span events follow the snapshot order (Phase.P2).
            _telemetry.Transition(next);
            return true;
        }
    }

    private void Refuse(string transition, ConnectionPhase from, ConnectionPhase to)
    {
        if (_strict)
        {
            throw new InvalidOperationException($"Phase transition {transition} refused: {from} -> {to} is not in the transition table.");
        }

        LogRefused(_logger, _name, transition, from, to);
    }

    // TransportException.ToString carries kind, codes and a composed message only (no URI, no inner message).
    private static string Describe(TransportException? error) => error?.ToString() ?? "none";

    [LoggerMessage(EventId = 17, EventName = "Rotated", Level = LogLevel.Information, Message = "Connection {Name}: rotated from {From} to epoch {Epoch} without a down-edge (attempts {Attempts}).")]
    private static partial void LogRotated(ILogger logger, string name, ConnectionPhase from, long epoch, long attempts);

    [LoggerMessage(EventId = 40, EventName = "TransitionRefused", Level = LogLevel.Error, Message = "Connection {Name}: phase transition {Transition} refused ({From} -> {To} is not in the transition table); the phase is unchanged.")]
    private static partial void LogRefused(ILogger logger, string name, string transition, ConnectionPhase from, ConnectionPhase to);
}
