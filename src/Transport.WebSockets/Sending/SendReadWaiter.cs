using System.Threading.Tasks.Sources;

namespace Transport.WebSockets.Sending;

/// <summary>
/// The one reusable awaiter behind <see cref="SendQueue.WaitToReadAsync"/>: every awaited send
/// finds the writer waiting on an empty queue, so the wait must not allocate.
/// </summary>
/// <remarks>
/// <para>
/// Who may complete it is decided by the queue under its gate (exactly one completer claims an
/// armed waiter); the completion itself happens outside that gate. This type only carries the
/// outcome to the writer.
/// </para>
/// <para>
/// <c>RunContinuationsAsynchronously</c> is true on purpose, as in the ring's waiter. When the
/// writer captured a scheduler (the actor's, or the pumped test scheduler), the core posts the
/// continuation there whatever this flag says, so the pump keeps control. When nothing was
/// captured, the flag keeps the writer's loop (and the socket write) from running inline on the
/// sender's thread inside <c>SendAsync</c>.
/// </para>
/// </remarks>
internal sealed class SendReadWaiter : IValueTaskSource
{
    // Touched by the single writer (Arm, GetResult) and by the one completer that claimed the
    // armed waiter under the queue's gate (SetResult/SetException). Never by two at once.
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

    // True from Arm until the writer has taken the outcome: a second wait before that is misuse.
    private volatile bool _outstanding;

    /// <summary>True while a handed-out wait has not been consumed.</summary>
    public bool IsOutstanding => _outstanding;

    /// <summary>Hands out a pending wait. Call only when <see cref="IsOutstanding"/> is false.</summary>
    /// <returns>A value task completed later by <see cref="SetResult"/> or <see cref="SetException"/>.</returns>
    public ValueTask Arm()
    {
        _outstanding = true;
        return new ValueTask(this, _core.Version);
    }

    /// <summary>Completes the armed wait: something is queued.</summary>
    public void SetResult() => _core.SetResult(true);

    /// <summary>Completes the armed wait with an error (the queue's closed error, or cancellation).</summary>
    /// <param name="error">The error the writer's await throws.</param>
    public void SetException(Exception error) => _core.SetException(error);

    /// <inheritdoc />
    void IValueTaskSource.GetResult(short token)
    {
        // Validate before the finally below resets the core: a stale token or a premature
        // GetResult (misuse) must not reset a wait that is still legitimately pending.
        if (_core.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            throw new InvalidOperationException("The send queue wait has not completed yet; await it instead of reading its result.");
        }

        try
        {
            _core.GetResult(token);
        }
        finally
        {
            // Reset only after the outcome was read: the next Arm hands out a new version.
            _core.Reset();
            _outstanding = false;
        }
    }

    /// <inheritdoc />
    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    /// <inheritdoc />
    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
