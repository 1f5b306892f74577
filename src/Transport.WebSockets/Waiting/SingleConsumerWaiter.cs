using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace Transport.WebSockets.Waiting;

// Invariants (each proven by a test in tests/Transport.Tests/Waiting/ tagged with its id):
//
// Waiter.W1: At most one wait is outstanding. Arm while a wait is armed, or completed but not yet
//            consumed by GetResult, throws InvalidOperationException: a second consumer is a bug
//            to report, not a wait to leave hanging.
// Waiter.W2: An armed wait is completed exactly once, by whoever claims it first: a completer
//            (TryClaim under the owner's lock) or the cancellation callback. The loser does nothing.
// Waiter.W3: Completing never runs the consumer's continuation inline on the completer's thread:
//            it is posted to the scheduler or context the consumer captured, else to the pool.
// Waiter.W4: A cancellation is never lost: a token cancelled before Arm, during Arm or while the
//            wait is armed ends that wait with OperationCanceledException carrying the token
//            (unless a completer claimed it first, W2).
// Waiter.W5: Arm, claim, complete and consume allocate nothing, with or without a cancellable
//            token (the token's registration nodes are recycled by CancellationTokenSource).
// Waiter.W6: Whoever completes a wait also releases its token registration, so a completed wait
//            leaves nothing registered on the consumer's token (a long-lived token does not keep
//            the owner alive) and a later cancellation of that token is harmless.

/// <summary>
/// The one reusable wait of a single-consumer structure (the receive ring, the send queue): an
/// <see cref="IValueTaskSource{T}"/> handed out again and again, in the spirit of
/// System.Threading.Channels' <c>AsyncOperation&lt;T&gt;</c>, with one arm/claim/cancel protocol.
/// </summary>
/// <remarks>
/// <para>
/// The protocol, for an owner that guards its state with a lock:
/// </para>
/// <list type="number">
/// <item>Arm: the consumer, holding the owner's lock, finds nothing to take and calls
/// <see cref="Arm"/> (or <see cref="ArmUntyped"/>). The lock makes "found nothing" and "armed"
/// one step with respect to producers.</item>
/// <item>Claim: a producer, holding the owner's lock, makes the condition true (adds an item,
/// completes the owner) and calls <see cref="TryClaim"/>. Claiming under the lock is what makes
/// "woken with true" imply "an item is there" (no spurious wake-up).</item>
/// <item>Complete: the claimant, after releasing the lock, calls <see cref="Complete"/> or
/// <see cref="Fail"/>. Nothing foreign runs under the owner's lock.</item>
/// <item>Cancel: the token's callback claims with the same compare-and-swap, without the owner's
/// lock, and fails the wait with <see cref="OperationCanceledException"/>.</item>
/// <item>Consume: the consumer's await reads the outcome (GetResult), which resets the core for
/// the next Arm with a new version, so a stale <see cref="ValueTask"/> cannot be confused with it.</item>
/// </list>
/// <para>
/// <c>RunContinuationsAsynchronously</c> is true on purpose (W3). When the awaiting code captured
/// a scheduler or synchronization context (an actor, the pumped test scheduler), the core posts the
/// continuation there whatever this flag says, so a pump keeps control. When nothing was captured
/// (a thread-pool consumer, or <c>ConfigureAwait(false)</c>), the flag keeps the consumer's code
/// off the producer's thread: the ring's producer is the receive loop that must keep draining the
/// socket, and the queue's producers are adapter threads inside <c>SendAsync</c>.
/// </para>
/// </remarks>
/// <typeparam name="T">The wait's result (the ring: true = readable, false = ended).</typeparam>
internal sealed class SingleConsumerWaiter<T> : IValueTaskSource<T>, IValueTaskSource
{
    private const int Idle = 0;     // no wait handed out; the consumer may Arm
    private const int Armed = 1;    // a wait is pending; the first claimant completes it
    private const int Claimed = 2;  // claimed (completing or completed); waiting for GetResult

    private static readonly Action<object?, CancellationToken> CancelCallback =
        static (state, token) => ((SingleConsumerWaiter<T>)state!).OnCancelled(token);

    private readonly string _owner;

    // Written by the consumer in Arm before _state becomes Armed; read and cleared by the one
    // claimant (W2), which the Armed -> Claimed compare-and-swap orders after that write.
    private CancellationTokenRegistration _registration;

    // Touched by the consumer (Arm, GetResult) and by the one claimant (Complete/Fail). Never by
    // two at once: the claimant completes it, then the consumer reads and resets it.
    private ManualResetValueTaskSourceCore<T> _core = new() { RunContinuationsAsynchronously = true };

    // Idle -> Armed (consumer, Arm) -> Claimed (claimant, TryClaim or cancellation) -> Idle
    // (consumer, GetResult). Only the Armed -> Claimed step races, hence the compare-and-swap.
    private int _state;

    /// <summary>Creates an idle waiter.</summary>
    /// <param name="owner">What owns it ("receive ring", "send queue"), for misuse messages.</param>
    public SingleConsumerWaiter(string owner) => _owner = owner;

    /// <summary>True while a handed-out wait has not been consumed (armed, or completed but unread).</summary>
    public bool IsOutstanding => Volatile.Read(ref _state) != Idle;

    /// <summary>True while a wait is armed and unclaimed.</summary>
    public bool IsArmed => Volatile.Read(ref _state) == Armed;

    /// <summary>
    /// Hands out the pending wait. Consumer only, holding the owner's lock, after it found nothing
    /// to take. An already-cancelled token yields a wait that is already cancelled (W4).
    /// </summary>
    /// <param name="cancellationToken">Ends the wait with <see cref="OperationCanceledException"/> unless a completer claims it first.</param>
    /// <returns>A value task completed by the claimant.</returns>
    /// <exception cref="InvalidOperationException">A previous wait was not consumed yet (W1).</exception>
    public ValueTask<T> Arm(CancellationToken cancellationToken)
    {
        ArmCore(cancellationToken);
        return new ValueTask<T>(this, _core.Version);
    }

    /// <summary>As <see cref="Arm"/>, for owners whose wait carries no result (the send queue).</summary>
    /// <param name="cancellationToken">Ends the wait with <see cref="OperationCanceledException"/> unless a completer claims it first.</param>
    /// <returns>A value task completed by the claimant.</returns>
    /// <exception cref="InvalidOperationException">A previous wait was not consumed yet (W1).</exception>
    public ValueTask ArmUntyped(CancellationToken cancellationToken)
    {
        ArmCore(cancellationToken);
        return new ValueTask(this, _core.Version);
    }

    /// <summary>
    /// Claims the armed wait, if any, for the caller to complete after releasing the owner's lock.
    /// Producer side, holding the owner's lock (W2).
    /// </summary>
    /// <returns>True when the caller now owns the completion and must call <see cref="Complete"/> or <see cref="Fail"/>.</returns>
    public bool TryClaim() =>
        Volatile.Read(ref _state) == Armed && Interlocked.CompareExchange(ref _state, Claimed, Armed) == Armed;

    /// <summary>Completes a claimed wait with a result. Call after a successful <see cref="TryClaim"/>, outside the owner's lock.</summary>
    /// <param name="result">The consumer's result.</param>
    public void Complete(T result)
    {
        Debug.Assert(Volatile.Read(ref _state) == Claimed, "Complete without a successful TryClaim.");
        ReleaseRegistration();
        _core.SetResult(result);
    }

    /// <summary>Completes a claimed wait with an error. Call after a successful <see cref="TryClaim"/>, outside the owner's lock.</summary>
    /// <param name="error">The error the consumer's await throws.</param>
    public void Fail(Exception error)
    {
        Debug.Assert(Volatile.Read(ref _state) == Claimed, "Fail without a successful TryClaim.");
        ReleaseRegistration();
        _core.SetException(error);
    }

    /// <inheritdoc />
    T IValueTaskSource<T>.GetResult(short token) => Consume(token);

    /// <inheritdoc />
    void IValueTaskSource.GetResult(short token) => Consume(token);

    /// <inheritdoc />
    ValueTaskSourceStatus IValueTaskSource<T>.GetStatus(short token) => _core.GetStatus(token);

    /// <inheritdoc />
    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    /// <inheritdoc />
    void IValueTaskSource<T>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    /// <inheritdoc />
    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    private void ArmCore(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _state) != Idle)
        {
            throw new InvalidOperationException($"The {_owner} has a single consumer: await the previous wait before waiting again.");
        }

        if (cancellationToken.CanBeCanceled)
        {
            // Registered before the state becomes Armed: a callback running now (the token was
            // already cancelled, or is being cancelled on another thread) finds the waiter Idle
            // and does nothing; the check after arming below then catches that cancellation (W4).
            // The callback takes no lock, so registering under the owner's lock cannot deadlock.
            _registration = cancellationToken.UnsafeRegister(CancelCallback, this);
        }

        Volatile.Write(ref _state, Armed);
        if (cancellationToken.IsCancellationRequested && TryClaim())
        {
            // Completing here, even under the owner's lock, runs nothing foreign: the consumer has
            // not received the value task yet, so no continuation is attached.
            Fail(new OperationCanceledException(cancellationToken));
        }
    }

    private void OnCancelled(CancellationToken token)
    {
        // This registration belongs to the wait armed now: the claimant of every earlier wait
        // disposed that wait's registration (W6), waiting for a callback already running on
        // another thread to return, before the wait could be consumed and a new one armed. So a
        // late callback of an earlier token can never claim a later wait.
        if (TryClaim())
        {
            Fail(new OperationCanceledException(token));
        }
    }

    private void ReleaseRegistration()
    {
        // Dispose, not Unregister: when the callback is running on another thread, Dispose waits
        // for it to return (it only tries the claim, which it has lost, W2). That wait is what
        // keeps a late callback away from the next wait. From inside the callback itself, or when
        // nothing was registered, it returns at once.
        CancellationTokenRegistration registration = _registration;
        _registration = default;
        registration.Dispose();
    }

    private T Consume(short token)
    {
        // Validate before the finally below resets the core: a stale token or a premature
        // GetResult (misuse) must not reset a wait that is still legitimately pending.
        if (_core.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            throw new InvalidOperationException($"The {_owner} wait has not completed yet; await it instead of reading its result.");
        }

        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            // Reset only after the outcome was read: the next Arm hands out a new version.
            _core.Reset();
            Volatile.Write(ref _state, Idle);
        }
    }
}
