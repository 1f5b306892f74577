using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.Lifecycle;

/// <summary>
/// Stands between the subject and one external observer. <see cref="OnNext"/> (called by the
/// actor) only swaps in the newest snapshot and, if no delivery is pending, spawns one; the
/// delivery loop hands the observer the newest snapshot until none is newer. A slow observer
/// therefore sees fewer, newer snapshots: lossless, since every field is a level or a
/// cumulative count.
/// </summary>
internal sealed class CoalescingObserver : IObserver<LifecycleSnapshot>, IDisposable
{
    private readonly IObserver<LifecycleSnapshot> _observer;
    private readonly ISpawner _spawner;
    private readonly ILogger _logger;

    // Guards every field below.
    private readonly object _gate = new();
    private LifecycleSnapshot? _pending;
    private bool _completePending;
    private bool _delivering;
    private bool _stopped;
    private IDisposable? _subscription;

    public CoalescingObserver(IObserver<LifecycleSnapshot> observer, ISpawner spawner, ILogger logger)
    {
        _observer = observer;
        _spawner = spawner;
        _logger = logger;
    }

    public void Attach(IDisposable subscription)
    {
        bool stopped;
        lock (_gate)
        {
            stopped = _stopped;
            _subscription = subscription;
        }

        if (stopped)
        {
            subscription.Dispose();
        }
    }

    public void OnNext(LifecycleSnapshot value)
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            _pending = value;
            if (!StartDeliveryLocked())
            {
                return;
            }
        }

        _ = _spawner.Spawn(DeliverAsync);
    }

    public void OnCompleted()
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            _completePending = true;
            if (!StartDeliveryLocked())
            {
                return;
            }
        }

        _ = _spawner.Spawn(DeliverAsync);
    }

    // The subject never errors: failures travel inside snapshots.
    public void OnError(Exception error) => OnCompleted();

    public void Dispose()
    {
        IDisposable? subscription;
        lock (_gate)
        {
            _stopped = true;
            _pending = null;
            subscription = _subscription;
            _subscription = null;
        }

        subscription?.Dispose();
    }

    private bool StartDeliveryLocked()
    {
        if (_delivering)
        {
            return false;
        }

        _delivering = true;
        return true;
    }

    private Task DeliverAsync()
    {
        while (true)
        {
            LifecycleSnapshot? next;
            bool complete;
            lock (_gate)
            {
                next = _pending;
                _pending = null;
                complete = next is null && _completePending;
                if (_stopped || (next is null && !complete))
                {
                    _delivering = false;
                    return Task.CompletedTask;
                }
            }

            try
            {
                if (complete)
                {
                    _observer.OnCompleted();
                    Dispose();
                    return Task.CompletedTask;
                }

                _observer.OnNext(next!);
            }
            catch (Exception ex)
            {
                // An observer that throws is cut off; the connection and the other observers carry on.
                // The exception's type only: its message is user text and might carry anything.
                _logger.LogWarning("A lifecycle observer threw {ExceptionType} and was unsubscribed.", ex.GetType().FullName);
                Dispose();
                return Task.CompletedTask;
            }
        }
    }
}
