using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.Sending;

/// <summary>
/// Every epoch-pin rule in one place: which epoch is current, which has ended, whether a pinned
/// send may be accepted or written, the removal of pinned frames when an epoch ends, and the count
/// of <c>TrySend</c> frames that were accepted but never sent.
/// </summary>
/// <remarks>
/// <para>
/// The actor advances and ends epochs; the sink (any thread) and the session's writer read them.
/// The fence knows neither: the sink and the actor both depend on it, so there is no cycle.
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Fence.E1 a send pinned to an epoch that has not started is invalid (SendAsync throws, TrySend returns Invalid).</item>
/// <item>Fence.E2 a send pinned to an ended epoch is refused at the door with StaleEpoch.</item>
/// <item>Fence.E3 the writer of epoch N writes only unpinned frames and frames pinned to N; any other pinned frame fails with StaleEpoch.</item>
/// <item>Fence.E4 when epoch N ends, every queued frame pinned to N or earlier fails with StaleEpoch, before a later session can take it.</item>
/// <item>Fence.E5 an untracked (TrySend) frame that fails is counted in FailedAfterAccept and logged; a tracked one fails its caller's task instead.</item>
/// </list>
/// </remarks>
internal sealed class EpochFence
{
    private readonly ILogger _logger;

    // Written by the actor only (Interlocked), read from any thread.
    private long _epoch;
    private long _lastEndedEpoch = -1;
    private long _failedAfterAccept;

    public EpochFence(ILogger logger) => _logger = logger;

    /// <summary>The current (or, while down, the last) epoch.</summary>
    public long CurrentEpoch => Interlocked.Read(ref _epoch);

    /// <summary>The newest epoch whose connection has ended; -1 before any ended.</summary>
    public long LastEndedEpoch => Interlocked.Read(ref _lastEndedEpoch);

    /// <summary>TrySend frames accepted but never sent (Fence.E5).</summary>
    public long FailedAfterAccept => Interlocked.Read(ref _failedAfterAccept);

    /// <summary>Starts the next epoch (a reconnect); returns it. The actor calls this once per down-cycle.</summary>
    public long Advance() => Interlocked.Increment(ref _epoch);

    /// <summary>Fence.E1 for SendAsync: throws when <paramref name="options"/> pins an epoch that has not started.</summary>
    public void ThrowIfNotStarted(SendOptions options, string paramName)
    {
        if (options.PinnedEpoch is { } pinned && pinned > CurrentEpoch)
        {
            throw new ArgumentOutOfRangeException(paramName, $"The send is pinned to epoch {pinned}, which has not started (current epoch {CurrentEpoch}).");
        }
    }

    /// <summary>Fence.E2 for SendAsync: the StaleEpoch error when the pinned epoch has ended, else null.</summary>
    public TransportException? RefuseEnded(SendOptions options) =>
        options.PinnedEpoch is { } pinned && pinned <= LastEndedEpoch ? TransportException.StaleEpoch(pinned) : null;

    /// <summary>Fence.E1 and Fence.E2 for TrySend: Invalid, StaleEpoch, or null when the send may be queued.</summary>
    public SendStatus? CheckTrySend(SendOptions options)
    {
        if (options.PinnedEpoch is not { } pinned)
        {
            return null;
        }

        if (pinned > CurrentEpoch)
        {
            return SendStatus.Invalid;
        }

        return pinned <= LastEndedEpoch ? SendStatus.StaleEpoch : null;
    }

    /// <summary>
    /// Fence.E3, at the writer of <paramref name="sessionEpoch"/>: true when <paramref name="request"/> may
    /// be written; otherwise fails it with StaleEpoch and returns false.
    /// </summary>
    public bool AdmitToWrite(SendRequest request, long sessionEpoch)
    {
        if (request.Options.PinnedEpoch is { } pinned && pinned != sessionEpoch)
        {
            Fail(request, TransportException.StaleEpoch(pinned));
            return false;
        }

        return true;
    }

    /// <summary>Fence.E4: marks <paramref name="epoch"/> ended and fails every queued frame pinned to it or earlier.</summary>
    public void EndEpoch(long epoch, SendQueue queue)
    {
        Interlocked.Exchange(ref _lastEndedEpoch, epoch);
        foreach (var request in queue.RemovePinnedUpTo(epoch))
        {
            Fail(request, TransportException.StaleEpoch(request.Options.PinnedEpoch!.Value));
        }
    }

    /// <summary>Fence.E5: fails a request the writer or the actor gave up on; counts it when nobody awaits it.</summary>
    public void Fail(SendRequest request, Exception error)
    {
        if (!request.Fail(error))
        {
            Interlocked.Increment(ref _failedAfterAccept);
            _logger.LogWarning("A frame accepted by TrySend was not sent: {Reason} ({Frame}).", (error as TransportException)?.Kind.ToString() ?? error.GetType().Name, request.Frame);
        }
    }
}
