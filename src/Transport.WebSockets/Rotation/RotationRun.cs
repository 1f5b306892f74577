using Microsoft.Extensions.Logging;
using Transport.WebSockets.Connection;

namespace Transport.WebSockets.Rotation;

/// <summary>
/// One make-before-break rotation in progress: the serving (old) session, the next socket's session once
/// it is connected, how the two have met, and the callers waiting for the result. Its fields are guarded
/// by the actor's rotation lock; the task sources complete once.
/// </summary>
/// <remarks>
/// <para>Invariants (tests in tests/Transport.Tests/Rotation/RotationTests.cs, named after them):</para>
/// <list type="bullet">
/// <item>Rotation.T1 a rotation opens the next socket under the attempt gate, runs the session initializer on it, and only then switches:
/// the old session ends with Rotated and closes with 1000, the lifecycle shows one epoch advance (Resumed, the Rotated transition)
/// and no down-edge (no Reconnecting snapshot, DownSince stays null).</item>
/// <item>Rotation.T2 one writer at a time: queued sends go to the old socket until the switch, then to the new one once the old
/// writer has stopped (a frame in flight on the old socket goes back to the head of its lane, Session.S5).</item>
/// <item>Rotation.T3 when the next socket fails (connect, auth, initializer, its timeout), the old one keeps serving, nothing is
/// published but LastError, the failure is logged and returned (Failed), and the budget is not charged.</item>
/// <item>Rotation.T4 during the overlap a keyed frame is delivered once, first arrival wins, in a bounded window (DedupeWindowOptions);
/// the new socket's keyed frames stay checked for the window's MaxAge after the old socket is gone (it may be behind the old one).</item>
/// <item>Rotation.T5 during the overlap an unkeyed frame is delivered only from the old socket until the switch and only from the
/// new one after it; the frames the new socket received before its up-edge (held, Session.S9: the replies to its initializer's
/// requests) are delivered right after the switch, after every frame the old socket delivered; nothing of the new socket is dropped.</item>
/// <item>Rotation.T6 when the old socket dies before the switch, it is an ordinary reconnect (down-edge, Resumed) served by the
/// rotation's socket: no second socket is opened and the epoch advances once (Reconnected).</item>
/// <item>Rotation.T7 one rotation at a time: calls made while one runs join it and get its result.</item>
/// <item>Rotation.T8 with no session up (connecting, reconnecting, shut down) a rotation does nothing (Skipped).</item>
/// <item>Rotation.T9 with Session.Lifetime and Session.RotateBefore, every session that went up rotates at lifetime - rotateBefore
/// after its up-edge, on the injected clock.</item>
/// </list>
/// </remarks>
internal sealed class RotationRun
{
    private readonly List<TaskCompletionSource<RotationResult>> _waiters = [];
    private RotationResult? _result;

    public RotationRun(Session old, string reason, CancellationToken shutdown)
    {
        Old = old;
        Reason = reason;
        Cancellation = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
    }

    /// <summary>The serving session being rotated away from.</summary>
    public Session Old { get; }

    /// <summary>Why ("requested", "scheduled").</summary>
    public string Reason { get; }

    /// <summary>Cancels the next socket's attempt (shutdown, or the cycle ending).</summary>
    public CancellationTokenSource Cancellation { get; }

    /// <summary>The next socket's session, once connected.</summary>
    public Session? New { get; set; }

    /// <summary>The task running <see cref="New"/>.</summary>
    public Task<SessionEnd>? NewRun { get; set; }

    /// <summary>The old session ended with Rotated: the switch happened.</summary>
    public bool Switched { get; set; }

    /// <summary>The old session ended otherwise first: the next socket is the reconnect's (Rotation.T6).</summary>
    public bool OldDied { get; set; }

    /// <summary>The next socket failed and the rotation reported it (Rotation.T3).</summary>
    public bool Failed { get; set; }

    /// <summary>The cycle ended (shutdown, a terminal verdict) while the rotation ran.</summary>
    public bool Abandoned { get; set; }

    /// <summary>True once <see cref="New"/> exists; false when the attempt failed or the rotation ended without one.</summary>
    public TaskCompletionSource<bool> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The next socket's up-edge (switch or hand-over) was published.</summary>
    public TaskCompletionSource Up { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The cycle published the down-edge and adopted the next socket (or abandoned the rotation).</summary>
    public TaskCompletionSource HandoverReady { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The rotation's own task has returned.</summary>
    public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Rotation.T7: adds a caller; one that joins after the result gets it at once.</summary>
    public void Join(TaskCompletionSource<RotationResult> waiter)
    {
        lock (_waiters)
        {
            if (_result is { } done)
            {
                waiter.TrySetResult(done);
                return;
            }

            _waiters.Add(waiter);
        }
    }

    /// <summary>Completes every caller with <paramref name="result"/>; the first result wins.</summary>
    public void Complete(RotationResult result)
    {
        TaskCompletionSource<RotationResult>[] waiters;
        lock (_waiters)
        {
            if (_result is not null)
            {
                return;
            }

            _result = result;
            waiters = [.. _waiters];
            _waiters.Clear();
        }

        Cancellation.Dispose();
        foreach (var waiter in waiters)
        {
            waiter.TrySetResult(result);
        }
    }
}

/// <summary>The rotation's log lines (event ids 18-21).</summary>
internal static partial class RotationLog
{
    [LoggerMessage(EventId = 18, EventName = "RotationStarted", Level = LogLevel.Information, Message = "Connection {Name}: rotation of epoch {Epoch} started ({Reason}): opening the next socket.")]
    public static partial void Started(ILogger logger, string name, long epoch, string reason);

    [LoggerMessage(EventId = 19, EventName = "RotationCompleted", Level = LogLevel.Information, Message = "Connection {Name}: rotated from epoch {OldEpoch} to epoch {NewEpoch} ({Reason}); overlap {OverlapMs} ms, {Duplicates} duplicates and {UnkeyedDropped} unkeyed frames dropped.")]
    public static partial void Completed(ILogger logger, string name, long oldEpoch, long newEpoch, double overlapMs, long duplicates, long unkeyedDropped, string reason);

    [LoggerMessage(EventId = 20, EventName = "RotationFailed", Level = LogLevel.Warning, Message = "Connection {Name}: rotation ({Reason}) failed; epoch {Epoch} keeps serving: {Error}")]
    public static partial void Failed(ILogger logger, string name, long epoch, string reason, string error);

    [LoggerMessage(EventId = 21, EventName = "RotationHandedOver", Level = LogLevel.Information, Message = "Connection {Name}: epoch {OldEpoch} ended during a rotation; its next socket (epoch {NewEpoch}) serves the reconnect.")]
    public static partial void HandedOver(ILogger logger, string name, long oldEpoch, long newEpoch);
}
