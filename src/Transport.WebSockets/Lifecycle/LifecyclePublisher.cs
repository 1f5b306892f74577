using System.Reactive.Subjects;
using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.Lifecycle;

/// <summary>
/// The lifecycle channel: the actor publishes snapshots into a <see cref="BehaviorSubject{T}"/>;
/// every external observer sits behind a <see cref="CoalescingObserver"/>, so the subject's
/// <c>OnNext</c> only stores a reference and schedules a delivery. <see cref="WaitAsync"/>
/// predicates are user code too: they are evaluated by a per-waiter pass started through the
/// spawn seam, never under <see cref="_gate"/> and never on the publisher's (the actor's) path.
/// </summary>
/// <remarks>
/// Invariants:
/// I1 the actor never runs observer code: a slow or throwing observer cannot delay or break it
///    (tests: L1_slow_observer_does_not_delay_actor, L1_throwing_observer_is_dropped).
/// I2 versions strictly increase, and the subject sees snapshots in version order, because
///    <see cref="Publish"/> composes and emits under <see cref="_gate"/>.
/// I3 the terminal snapshot is the last one; the subject completes right after it.
/// I4 the actor never runs a wait predicate, and no predicate runs under a lock: a predicate that
///    throws faults its own wait only (its task carries the exception), one that blocks stalls its
///    own wait only; every waiter still sees every snapshot in version order, each exactly once
///    (tests: Item3_*).
/// </remarks>
internal sealed class LifecyclePublisher : ILifecycleChannel
{
    private readonly BehaviorSubject<LifecycleSnapshot> _subject = new(LifecycleSnapshot.Initial);
    private readonly ISpawner _spawner;
    private readonly ILogger _logger;

    // Guards _tail, every Node.Next, _waiters, each waiter's cursor/running/done state, and the
    // ordering of emissions into _subject. No user code runs while it is held.
    private readonly object _gate = new();

    // The newest snapshot heads a forward-linked history: each waiter keeps a cursor into it and
    // walks it at its own pace (I4). Nodes no waiter points at are garbage.
    private Node _tail = new(LifecycleSnapshot.Initial);
    private LifecycleSnapshot _current = LifecycleSnapshot.Initial;
    private readonly List<Waiter> _waiters = [];
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public LifecyclePublisher(ISpawner spawner, ILogger logger)
    {
        _spawner = spawner;
        _logger = logger;
    }

    public LifecycleSnapshot Current => Volatile.Read(ref _current);

    public Task Completion => _completion.Task;

    /// <summary>Applies <paramref name="change"/> to the current snapshot and publishes the result.</summary>
    /// <param name="change">The stack's own composition of the next snapshot (never user code).</param>
    /// <returns>The published snapshot; the current one unchanged when already terminal.</returns>
    public LifecycleSnapshot Publish(Func<LifecycleSnapshot, LifecycleSnapshot> change)
    {
        LifecycleSnapshot next;
        List<Waiter>? kick = null;
        lock (_gate)
        {
            if (_current.IsTerminal)
            {
                return _current;
            }

            next = change(_current) with { Version = _current.Version + 1 };
            Volatile.Write(ref _current, next);
            var node = new Node(next);
            _tail.Next = node;
            _tail = node;

            // Cheap and non-blocking: every subscriber is a CoalescingObserver (I1).
            _subject.OnNext(next);
            if (next.IsTerminal)
            {
                _subject.OnCompleted();
            }

            // I4: waiters evaluate on their own pass; a pass already running will reach this node.
            foreach (var waiter in _waiters)
            {
                if (!waiter.Running)
                {
                    waiter.Running = true;
                    (kick ??= []).Add(waiter);
                }
            }
        }

        if (kick is not null)
        {
            foreach (var waiter in kick)
            {
                StartPass(waiter);
            }
        }

        if (next.IsTerminal)
        {
            _completion.TrySetResult();
        }

        return next;
    }

    public IDisposable Subscribe(IObserver<LifecycleSnapshot> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        var coalescing = new CoalescingObserver(observer, _spawner, _logger);
        lock (_gate)
        {
            if (_current.IsTerminal)
            {
                // A completed BehaviorSubject replays nothing; a late subscriber still deserves
                // the terminal snapshot before completion.
                coalescing.OnNext(_current);
                coalescing.OnCompleted();
                return coalescing;
            }

            coalescing.Attach(_subject.Subscribe(coalescing));
        }

        return coalescing;
    }

    public ValueTask<LifecycleSnapshot> WaitAsync(Func<LifecycleSnapshot, bool> predicate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<LifecycleSnapshot>(cancellationToken);
        }

        Node start;
        lock (_gate)
        {
            start = _tail;
        }

        // The caller's own thread, outside the lock (I4).
        bool matched;
        try
        {
            matched = predicate(start.Snapshot);
        }
        catch (Exception ex)
        {
            LogPredicateThrew(ex);
            return ValueTask.FromException<LifecycleSnapshot>(ex);
        }

        if (matched)
        {
            return ValueTask.FromResult(start.Snapshot);
        }

        if (start.Snapshot.IsTerminal)
        {
            return ValueTask.FromException<LifecycleSnapshot>(EndedWithout(start.Snapshot));
        }

        var waiter = new Waiter(predicate, start);

        // Attached before the waiter can complete, so every completion releases it from the caller's token.
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var (self, w) = ((LifecyclePublisher, Waiter))state!;
                if (self.TryRetire(w))
                {
                    w.Cancel(token);
                }
            }, (this, waiter));
        }

        bool kick;
        lock (_gate)
        {
            if (waiter.Done)
            {
                return new ValueTask<LifecycleSnapshot>(waiter.Task); // cancelled meanwhile
            }

            _waiters.Add(waiter);

            // Snapshots published since `start` was read have not seen this waiter: catch up.
            kick = start.Next is not null;
            waiter.Running = kick;
        }

        if (kick)
        {
            StartPass(waiter);
        }

        return new ValueTask<LifecycleSnapshot>(waiter.Task);
    }

    private void StartPass(Waiter waiter) => _ = _spawner.Spawn(() =>
    {
        RunPass(waiter);
        return Task.CompletedTask;
    });

    // One waiter's pass over the snapshots it has not seen, in version order, outside the lock.
    private void RunPass(Waiter waiter)
    {
        while (true)
        {
            Node next;
            lock (_gate)
            {
                if (waiter.Done || waiter.Cursor.Next is not { } n)
                {
                    // Publish starts a new pass for a waiter that is not running.
                    waiter.Running = false;
                    return;
                }

                next = n;
                waiter.Cursor = n;
            }

            bool matched;
            try
            {
                matched = waiter.Predicate(next.Snapshot);
            }
            catch (Exception ex)
            {
                // Only this wait faults; the actor and every other waiter carry on.
                LogPredicateThrew(ex);
                if (TryRetire(waiter))
                {
                    waiter.Fault(ex);
                }

                return;
            }

            if (matched || next.Snapshot.IsTerminal)
            {
                if (TryRetire(waiter))
                {
                    waiter.Complete(next.Snapshot, matched);
                }

                return;
            }
        }
    }

    // Exactly one of match, fault, terminal or cancellation finishes a waiter.
    private bool TryRetire(Waiter waiter)
    {
        lock (_gate)
        {
            if (waiter.Done)
            {
                return false;
            }

            waiter.Done = true;
            _waiters.Remove(waiter);
            return true;
        }
    }

    // The exception's type only: its message is user text and might carry anything.
    private void LogPredicateThrew(Exception ex) =>
        _logger.LogWarning("A lifecycle WaitAsync predicate threw {ExceptionType}; that wait faults with it and the connection carries on.", ex.GetType().FullName);

    private static TransportException EndedWithout(LifecycleSnapshot terminal) =>
        TransportException.Shutdown($"The lifecycle ended ({terminal.Phase}) without the awaited change.");

    private sealed class Node(LifecycleSnapshot snapshot)
    {
        public LifecycleSnapshot Snapshot { get; } = snapshot;

        // Written once, under the publisher's gate.
        public Node? Next { get; set; }
    }

    private sealed class Waiter(Func<LifecycleSnapshot, bool> predicate, Node cursor)
    {
        private readonly TaskCompletionSource<LifecycleSnapshot> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Func<LifecycleSnapshot, bool> Predicate { get; } = predicate;

        // The last snapshot this waiter evaluated; under the publisher's gate.
        public Node Cursor { get; set; } = cursor;

        // A pass is scheduled or running; under the publisher's gate.
        public bool Running { get; set; }

        // Retired (matched, faulted, ended or cancelled); under the publisher's gate.
        public bool Done { get; set; }

        public CancellationTokenRegistration Registration { get; set; }

        public Task<LifecycleSnapshot> Task => _tcs.Task;

        public void Complete(LifecycleSnapshot snapshot, bool matched)
        {
            Registration.Unregister();
            if (matched)
            {
                _tcs.TrySetResult(snapshot);
            }
            else
            {
                _tcs.TrySetException(EndedWithout(snapshot));
            }
        }

        public void Fault(Exception error)
        {
            Registration.Unregister();
            _tcs.TrySetException(error);
        }

        public void Cancel(CancellationToken token) => _tcs.TrySetCanceled(token);
    }
}
