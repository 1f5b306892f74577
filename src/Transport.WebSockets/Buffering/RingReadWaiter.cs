using System.Threading.Tasks.Sources;

namespace Transport.WebSockets.Buffering;

/// <summary>
/// The one reusable awaiter behind <see cref="DropOldestRing.WaitToReadAsync"/>: a consumer that
/// keeps up with the feed waits once per frame, so the wait must not allocate.
/// </summary>
/// <remarks>
/// <para>
/// Who may complete it is decided by the ring under its lock (exactly one completer claims an
/// armed waiter); the completion itself happens outside that lock. This type only carries the
/// result to the awaiting consumer.
/// </para>
/// <para>
/// <c>RunContinuationsAsynchronously</c> is true on purpose. When the awaiting code captured a
/// scheduler or synchronization context (the pumped test scheduler, an actor), the core posts the
/// continuation there whatever this flag says, so the pump keeps control. When nothing was
/// captured (a thread-pool consumer, or <c>ConfigureAwait(false)</c>), the flag keeps the
/// adapter's code from running inline on the producer's thread, which would stall the actor
/// that must keep draining the socket.
/// </para>
/// </remarks>
internal sealed class RingReadWaiter : IValueTaskSource<bool>
{
    // Touched by the single consumer (Arm, GetResult) and by the one completer that claimed the
    // armed waiter under the ring's lock (SetResult/SetException). Never by two at once.
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

    // True from Arm until the consumer has taken the result: a second wait before that is misuse.
    private volatile bool _outstanding;

    /// <summary>True while a handed-out wait has not been consumed.</summary>
    public bool IsOutstanding => _outstanding;

    /// <summary>Hands out a pending wait. Call only when <see cref="IsOutstanding"/> is false.</summary>
    /// <returns>A value task completed later by <see cref="SetResult"/> or <see cref="SetException"/>.</returns>
    public ValueTask<bool> Arm()
    {
        _outstanding = true;
        return new ValueTask<bool>(this, _core.Version);
    }

    /// <summary>Completes the armed wait with a result.</summary>
    /// <param name="result">True: a frame is readable; false: the ring ended normally.</param>
    public void SetResult(bool result) => _core.SetResult(result);

    /// <summary>Completes the armed wait with an error (the ring's completion error, or cancellation).</summary>
    /// <param name="error">The error the consumer's await throws.</param>
    public void SetException(Exception error) => _core.SetException(error);

    /// <inheritdoc />
    bool IValueTaskSource<bool>.GetResult(short token)
    {
        // Validate before the finally below resets the core: a stale token or a premature
        // GetResult (misuse) must not reset a wait that is still legitimately pending.
        if (_core.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            throw new InvalidOperationException("The ring wait has not completed yet; await it instead of reading its result.");
        }

        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            // Reset only after the result was read: the next Arm hands out a new version.
            _core.Reset();
            _outstanding = false;
        }
    }

    /// <inheritdoc />
    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

    /// <inheritdoc />
    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
