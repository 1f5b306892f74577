using Microsoft.Extensions.Logging;

namespace Transport.Nats.Lifecycle;

// Invariants (tests in tests/Transport.Nats.Tests/Lifecycle/LifecycleChannelTests.cs):
//
// Channel.C1: Versions strictly increase; a new observer gets the current snapshot first; each observer sees
//     snapshots in version order, coalesced (a slow one sees fewer, newer ones), never on the publisher's thread.
//     LifecycleChannelTests.C1_observers_see_the_current_snapshot_then_newer_ones_in_order
// Channel.C2: An observer that throws is unsubscribed (logged by type); the others and the publisher carry on.
//     LifecycleChannelTests.C2_a_throwing_observer_is_dropped_and_the_others_carry_on
// Channel.C3: A waiter sees every snapshot from its start in version order, once; its predicate runs off the
//     publisher's path; a throwing predicate faults only that wait.
//     LifecycleChannelTests.C3_waiters_see_every_snapshot_in_order_and_a_throwing_predicate_faults_only_its_wait
// Channel.C4: The terminal snapshot is the last: observers complete after it, Completion completes, and a wait
//     without a match fails with a TransportException of kind Shutdown.
//     LifecycleChannelTests.C4_terminal_snapshot_completes_observers_and_waits

/// <summary>
/// The consumer's lifecycle channel (a BehaviorSubject-like last-value channel without System.Reactive):
/// the composer publishes, observers are called off its path and coalesced, waiters walk the history.
/// </summary>
internal sealed class LifecycleChannel : ILifecycleChannel
{
    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private readonly List<Subscription> _observers = [];
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Guarded by _gate: the newest snapshot heads a forward-linked history that waiters walk.
    private Node _tail;
    private LifecycleSnapshot _current;

    public LifecycleChannel(LifecycleSnapshot initial, ILogger logger)
    {
        _current = initial;
        _tail = new Node(initial);
        _logger = logger;
    }

    public LifecycleSnapshot Current => Volatile.Read(ref _current);

    public Task Completion => _completion.Task;

    /// <summary>Publishes <paramref name="change"/>(Current) with the next version; nothing after a terminal snapshot.</summary>
    /// <returns>The snapshot now current.</returns>
    public LifecycleSnapshot Publish(Func<LifecycleSnapshot, LifecycleSnapshot> change)
    {
        Subscription[] observers;
        LifecycleSnapshot next;
        lock (_gate)
        {
            if (_current.IsTerminal)
            {
                return _current;
            }

            next = change(_current) with { Version = _current.Version + 1 };
            var node = new Node(next);
            _tail.Next = node;
            _tail = node;
            Volatile.Write(ref _current, next);
            observers = [.. _observers];
            if (next.IsTerminal)
            {
                _observers.Clear();
            }
        }

        foreach (var observer in observers)
        {
            observer.Offer(next);
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
        var subscription = new Subscription(this, observer);
        LifecycleSnapshot current;
        lock (_gate)
        {
            current = _current;
            if (!current.IsTerminal)
            {
                _observers.Add(subscription);
            }
        }

        subscription.Offer(current);
        return subscription;
    }

    public async ValueTask<LifecycleSnapshot> WaitAsync(Func<LifecycleSnapshot, bool> predicate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        Node cursor;
        lock (_gate)
        {
            cursor = _tail;
        }

        // Current first, on the caller's thread.
        if (predicate(cursor.Snapshot))
        {
            return cursor.Snapshot;
        }

        // Then every later snapshot in version order (Channel.C3), off the publisher's path.
        await Task.Yield();
        while (true)
        {
            Node? next;
            lock (_gate)
            {
                next = cursor.Next;
            }

            if (next is null)
            {
                if (cursor.Snapshot.IsTerminal)
                {
                    throw new TransportException(TransportErrorKind.Shutdown, "The NATS feed consumer was closed before the awaited lifecycle state.");
                }

                await WaitForNextAsync(cursor, cancellationToken).ConfigureAwait(false);
                continue;
            }

            cursor = next;
            if (predicate(cursor.Snapshot))
            {
                return cursor.Snapshot;
            }
        }
    }

    private async Task WaitForNextAsync(Node cursor, CancellationToken cancellationToken)
    {
        Task signal;
        lock (_gate)
        {
            if (cursor.Next is not null)
            {
                return;
            }

            cursor.Appended ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            signal = cursor.Appended.Task;
        }

        await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void Remove(Subscription subscription)
    {
        lock (_gate)
        {
            _observers.Remove(subscription);
        }
    }

    private sealed class Node(LifecycleSnapshot snapshot)
    {
        private Node? _next;

        public LifecycleSnapshot Snapshot { get; } = snapshot;

        // Guarded by the channel's gate.
        public TaskCompletionSource? Appended { get; set; }

        public Node? Next
        {
            get => _next;
            set
            {
                _next = value;
                Appended?.TrySetResult();
            }
        }
    }

    /// <summary>One observer behind a coalescing slot: the newest undelivered snapshot, delivered on the thread pool.</summary>
    private sealed class Subscription(LifecycleChannel channel, IObserver<LifecycleSnapshot> observer) : IDisposable
    {
        private readonly Lock _gate = new();
        private LifecycleSnapshot? _pending;
        private bool _running;
        private bool _disposed;

        public void Offer(LifecycleSnapshot snapshot)
        {
            lock (_gate)
            {
                if (_disposed)
                {
                    return;
                }

                _pending = snapshot;
                if (_running)
                {
                    return;
                }

                _running = true;
            }

            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Drain(), this, preferLocal: false);
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _disposed = true;
                _pending = null;
            }

            channel.Remove(this);
        }

        private void Drain()
        {
            while (true)
            {
                LifecycleSnapshot next;
                lock (_gate)
                {
                    if (_disposed || _pending is null)
                    {
                        _running = false;
                        return;
                    }

                    next = _pending;
                    _pending = null;
                }

                try
                {
                    observer.OnNext(next);
                    if (next.IsTerminal)
                    {
                        observer.OnCompleted();
                    }
                }
                catch (Exception ex)
                {
                    NatsLog.ObserverFailed(channel._logger, ex.GetType().Name);
                    Dispose();
                    return;
                }
            }
        }
    }
}
