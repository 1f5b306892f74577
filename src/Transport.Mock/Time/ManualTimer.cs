namespace Transport.Mock;

/// <summary>One timer of a <see cref="ManualTimeProvider"/>. Its state is guarded by the provider's lock.</summary>
internal sealed class ManualTimer : ITimer
{
    private readonly ManualTimeProvider _owner;

    public ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state, long sequence)
    {
        _owner = owner;
        Callback = callback;
        State = state;
        Sequence = sequence;
    }

    public TimerCallback Callback { get; }

    public object? State { get; }

    /// <summary>Creation order; the provider's list is kept in this order, which breaks due-time ties.</summary>
    public long Sequence { get; }

    // The fields below are read and written only under the provider's lock.
    public DateTimeOffset? DueAt { get; set; }

    public TimeSpan Period { get; set; }

    public bool IsDisposed { get; set; }

    public bool Change(TimeSpan dueTime, TimeSpan period) => _owner.Change(this, dueTime, period);

    public void Dispose() => _owner.Remove(this);

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
