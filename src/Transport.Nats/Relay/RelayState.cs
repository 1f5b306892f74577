namespace Transport.Nats.Relay;

/// <summary>
/// A relay's counters and role, cumulative across its active periods. <see cref="Gate"/> also guards the
/// active session's <see cref="PendingBuffer"/>, so a snapshot is consistent.
/// </summary>
internal sealed class RelayState
{
    public readonly Lock Gate = new();

    // All guarded by Gate.
    public RelayRole Role = RelayRole.Starting;
    public long Generation;
    public long FramesRead;
    public long Acknowledged;
    public long Dropped;
    public long TooLarge;
    public long PublishFailures;
    public long Retries;
    public long LastAcknowledgedSequence;
    public long Takeovers;
    public string? LastError;
    public PendingBuffer? Buffer;

    public RelaySnapshot Snapshot(string feed, string relay, bool busConnected, TimeProvider time)
    {
        lock (Gate)
        {
            long? oldest = Buffer?.OldestAdmittedAt;
            return new RelaySnapshot(
                feed,
                relay,
                Role,
                Generation,
                busConnected,
                FramesRead,
                Acknowledged,
                Buffer?.Count ?? 0,
                Buffer?.InFlight ?? 0,
                oldest is { } at ? time.GetElapsedTime(at) : TimeSpan.Zero,
                Dropped,
                TooLarge,
                PublishFailures,
                Retries,
                LastAcknowledgedSequence,
                Takeovers,
                LastError);
        }
    }
}

/// <summary>A one-shot-per-wait wake-up: <see cref="Set"/> before a wait makes that wait return at once.</summary>
internal sealed class Signal
{
    private readonly Lock _gate = new();
    private TaskCompletionSource? _waiter;
    private bool _pending;

    public void Set()
    {
        TaskCompletionSource? waiter;
        lock (_gate)
        {
            waiter = _waiter;
            _waiter = null;
            if (waiter is null)
            {
                _pending = true;
                return;
            }
        }

        waiter.TrySetResult();
    }

    /// <summary>Waits for a <see cref="Set"/> or <paramref name="timeout"/> on <paramref name="time"/>.</summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        Task wake;
        lock (_gate)
        {
            if (_pending)
            {
                _pending = false;
                return;
            }

            _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            wake = _waiter.Task;
        }

        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await Task.WhenAny(wake, Task.Delay(timeout, time, timer.Token)).ConfigureAwait(false);
        timer.Cancel();
        cancellationToken.ThrowIfCancellationRequested();
    }
}
