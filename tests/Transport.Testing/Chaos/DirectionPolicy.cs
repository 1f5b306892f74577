namespace Transport.Testing.Chaos;

/// <summary>
/// The live settings of one direction (half-open gate, throttle, latency). Pumps read them per chunk, so a
/// command takes effect on current connections at their next chunk and on every new connection.
/// </summary>
internal sealed class DirectionPolicy
{
    private readonly object _gate = new();

    // Guarded by _gate: while halted, _resumed is an incomplete task that Resume completes.
    private bool _halted;
    private HalfOpenMode _haltMode;
    private TaskCompletionSource _resumed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int _bytesPerSecond;
    private long _latencyTicks;

    /// <summary>Zero or less means unthrottled.</summary>
    public int BytesPerSecond
    {
        get => Volatile.Read(ref _bytesPerSecond);
        set => Volatile.Write(ref _bytesPerSecond, value);
    }

    public TimeSpan Latency
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicks));
        set => Interlocked.Exchange(ref _latencyTicks, value.Ticks);
    }

    public void Halt(HalfOpenMode mode)
    {
        lock (_gate)
        {
            if (!_halted)
            {
                _halted = true;
                _resumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            _haltMode = mode;
        }
    }

    public void Resume()
    {
        TaskCompletionSource? release = null;
        lock (_gate)
        {
            if (_halted)
            {
                _halted = false;
                release = _resumed;
            }
        }

        release?.TrySetResult();
    }

    /// <summary>True while halted; then <paramref name="resumed"/> completes on <see cref="Resume"/>.</summary>
    public bool IsHalted(out HalfOpenMode mode, out Task resumed)
    {
        lock (_gate)
        {
            mode = _haltMode;
            resumed = _resumed.Task;
            return _halted;
        }
    }
}
