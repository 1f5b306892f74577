namespace Transport.WebSockets.Initialization;

/// <summary>
/// An asynchronous mutual-exclusion gate that admits waiters in arrival order, for the session
/// initializer's direct writer.
/// </summary>
/// <remarks>
/// <para>
/// Why not <see cref="SemaphoreSlim"/>: its cancellable <c>WaitAsync</c> resumes through an internal
/// <c>ConfigureAwait(false)</c> continuation on the thread pool, so a waiter cancelled at a bound (or
/// handed the gate) reached the actor's scheduler from another thread, after a pumped test had
/// already gone idle. Here a waiter is completed directly by <see cref="Exit"/> or by its token's
/// callback, and its continuation is posted to the scheduler it awaited on (ADR 0003).
/// </para>
/// <para>
/// Gate.G1 one holder at a time; <see cref="Exit"/> hands the gate to the oldest waiter still waiting
/// (first in, first out); a waiter whose token fires before it is handed the gate leaves the queue
/// and its wait is cancelled (test: G1_waiters_enter_in_arrival_order_and_a_cancelled_one_leaves_the_queue).
/// </para>
/// </remarks>
internal sealed class FifoGate
{
    private readonly Lock _sync = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private bool _held;

    /// <summary>Whether some caller holds the gate.</summary>
    public bool IsHeld
    {
        get { lock (_sync) { return _held; } }
    }

    /// <summary>Takes the gate at once if it is free.</summary>
    /// <returns>True when the caller now holds it.</returns>
    public bool TryEnter()
    {
        lock (_sync)
        {
            if (_held)
            {
                return false;
            }

            _held = true;
            return true;
        }
    }

    /// <summary>Waits for the gate (Gate.G1).</summary>
    /// <param name="cancellationToken">Cancels the wait while not yet handed the gate.</param>
    /// <returns>Completes when the caller holds the gate; cancelled when the token fired first.</returns>
    public Task EnterAsync(CancellationToken cancellationToken)
    {
        Waiter waiter;
        LinkedListNode<Waiter> node;
        lock (_sync)
        {
            if (!_held)
            {
                _held = true;
                return Task.CompletedTask;
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return Task.FromCanceled(cancellationToken);
            }

            waiter = new Waiter();
            node = _waiters.AddLast(waiter);
        }

        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.Register(static (state, token) =>
            {
                var (gate, node) = ((FifoGate, LinkedListNode<Waiter>))state!;
                gate.Withdraw(node, token);
            }, (this, node));
        }

        return waiter.Completion.Task;
    }

    /// <summary>Releases the gate: the oldest waiter gets it, or it becomes free.</summary>
    public void Exit()
    {
        Waiter next;
        lock (_sync)
        {
            if (_waiters.First is not { } first)
            {
                _held = false;
                return;
            }

            _waiters.RemoveFirst();
            next = first.Value; // the gate stays held: handed over
        }

        next.Registration.Dispose();
        next.Completion.TrySetResult();
    }

    private void Withdraw(LinkedListNode<Waiter> node, CancellationToken token)
    {
        lock (_sync)
        {
            if (node.List is null)
            {
                return; // already handed the gate
            }

            _waiters.Remove(node);
        }

        node.Value.Completion.TrySetCanceled(token);
    }

    private sealed class Waiter
    {
        // Asynchronous continuations: the waiter resumes on the scheduler it awaited on, never inline
        // in Exit or in the token's callback.
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenRegistration Registration { get; set; }
    }
}
