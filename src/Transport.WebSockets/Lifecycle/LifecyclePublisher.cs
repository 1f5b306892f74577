using System.Reactive.Subjects;
using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.Lifecycle;

/// <summary>
/// The lifecycle channel: the actor publishes snapshots into a <see cref="BehaviorSubject{T}"/>;
/// every external observer sits behind a <see cref="CoalescingObserver"/>, so the subject's
/// <c>OnNext</c> only stores a reference and schedules a delivery.
/// </summary>
/// <remarks>
/// Invariants:
/// I1 the actor never runs observer code: a slow or throwing observer cannot delay or break it
///    (tests: L1_slow_observer_does_not_delay_actor, L1_throwing_observer_is_dropped).
/// I2 versions strictly increase, and the subject sees snapshots in version order, because
///    <see cref="Publish"/> composes and emits under <see cref="_gate"/>.
/// I3 the terminal snapshot is the last one; the subject completes right after it.
/// </remarks>
internal sealed class LifecyclePublisher : ILifecycleChannel
{
    private readonly BehaviorSubject<LifecycleSnapshot> _subject = new(LifecycleSnapshot.Initial);
    private readonly ISpawner _spawner;
    private readonly ILogger _logger;

    // Guards _current, _waiters and the ordering of emissions into _subject.
    private readonly object _gate = new();
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
    /// <returns>The published snapshot; the current one unchanged when already terminal.</returns>
    public LifecycleSnapshot Publish(Func<LifecycleSnapshot, LifecycleSnapshot> change)
    {
        LifecycleSnapshot next;
        List<(Waiter Waiter, bool Matched)>? matched = null;
        lock (_gate)
        {
            if (_current.IsTerminal)
            {
                return _current;
            }

            next = change(_current) with { Version = _current.Version + 1 };
            Volatile.Write(ref _current, next);

            // Cheap and non-blocking: every subscriber is a CoalescingObserver (I1).
            _subject.OnNext(next);
            if (next.IsTerminal)
            {
                _subject.OnCompleted();
            }

            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                // The predicate runs once per snapshot, here; its verdict travels with the waiter.
                var isMatch = _waiters[i].Matches(next);
                if (isMatch || next.IsTerminal)
                {
                    (matched ??= []).Add((_waiters[i], isMatch));
                    _waiters.RemoveAt(i);
                }
            }
        }

        // Complete waiters outside the lock; their continuations run asynchronously.
        if (matched is not null)
        {
            foreach (var (waiter, isMatch) in matched)
            {
                waiter.Complete(next, isMatch);
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
        Waiter waiter;
        lock (_gate)
        {
            if (predicate(_current))
            {
                return ValueTask.FromResult(_current);
            }

            if (_current.IsTerminal)
            {
                return ValueTask.FromException<LifecycleSnapshot>(
                    TransportException.Shutdown($"The lifecycle ended ({_current.Phase}) without the awaited change."));
            }

            waiter = new Waiter(predicate);
            _waiters.Add(waiter);
        }

        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.Register(() =>
            {
                lock (_gate)
                {
                    _waiters.Remove(waiter);
                }

                waiter.Cancel(cancellationToken);
            });
        }

        return new ValueTask<LifecycleSnapshot>(waiter.Task);
    }

    private sealed class Waiter(Func<LifecycleSnapshot, bool> predicate)
    {
        private readonly TaskCompletionSource<LifecycleSnapshot> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenRegistration Registration { get; set; }

        public Task<LifecycleSnapshot> Task => _tcs.Task;

        public bool Matches(LifecycleSnapshot snapshot) => predicate(snapshot);

        public void Complete(LifecycleSnapshot snapshot, bool matched)
        {
            Registration.Dispose();
            if (matched)
            {
                _tcs.TrySetResult(snapshot);
            }
            else
            {
                _tcs.TrySetException(TransportException.Shutdown($"The lifecycle ended ({snapshot.Phase}) without the awaited change."));
            }
        }

        public void Cancel(CancellationToken token) => _tcs.TrySetCanceled(token);
    }
}
