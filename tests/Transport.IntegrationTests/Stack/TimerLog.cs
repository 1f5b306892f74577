using System.Diagnostics;

namespace Transport.IntegrationTests.Stack;

/// <summary>
/// <see cref="TimeProvider.System"/> with a log of every timer the stack creates on it: its due time,
/// and the <see cref="Stopwatch"/> timestamps at which it was created and first fired.
/// </summary>
/// <remarks>
/// <para>
/// Why timing tests over real sockets judge the stack against this log instead of against a
/// stopwatch gap: the stack waits (backoff, Retry-After, connect timeout) with timers on this
/// clock, and a system timer fires against the coarse monotonic tick (4 ms on a 250 Hz kernel), so
/// measured with a <see cref="Stopwatch"/> it can fire a few milliseconds before its due time; and
/// the points where a test can observe an attempt lag the stack's own decision by however long the
/// machine takes to schedule them (tens of ms on a loaded 2-core runner). A gap measured between
/// two observations therefore proves nothing to the millisecond. What is guaranteed, and what these
/// tests assert, is causal order: the stack created a timer of exactly the expected due time after
/// attempt N was observed, and attempt N+1 was observed only after that timer fired.
/// </para>
/// </remarks>
internal sealed class TimerLog : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<Entry> _timers = [];

    /// <summary>One timer: its due time, when it was created and when it first fired (0: not yet).</summary>
    public sealed class Entry(TimeSpan due, long createdAt)
    {
        private long _firedAt;

        public TimeSpan Due { get; } = due;

        public long CreatedAt { get; } = createdAt;

        public long FiredAt => Volatile.Read(ref _firedAt);

        internal void Fired() => Interlocked.CompareExchange(ref _firedAt, Math.Max(1, Stopwatch.GetTimestamp()), 0);
    }

    /// <summary>Every timer created so far, in creation order.</summary>
    public IReadOnlyList<Entry> Timers
    {
        get
        {
            lock (_lock)
            {
                return [.. _timers];
            }
        }
    }

    public override long TimestampFrequency => System.TimestampFrequency;

    public override long GetTimestamp() => System.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow();

    public override TimeZoneInfo LocalTimeZone => System.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var entry = new Entry(dueTime, Stopwatch.GetTimestamp());
        lock (_lock)
        {
            _timers.Add(entry);
        }

        return System.CreateTimer(
            s =>
            {
                entry.Fired();
                callback(s);
            },
            state,
            dueTime,
            period);
    }

    /// <summary>
    /// The first timer of due time <paramref name="due"/> created at or after <paramref name="after"/>
    /// that fired at or before <paramref name="before"/> (Stopwatch timestamps), or null.
    /// </summary>
    public Entry? FiredBetween(TimeSpan due, long after, long before) =>
        Find(due, after, before, before);

    /// <summary>
    /// The first timer of due time <paramref name="due"/> created between <paramref name="createdAfter"/>
    /// and <paramref name="createdBefore"/> that fired at or before <paramref name="firedBefore"/>
    /// (Stopwatch timestamps), or null.
    /// </summary>
    public Entry? Find(TimeSpan due, long createdAfter, long createdBefore, long firedBefore) =>
        Timers.FirstOrDefault(t => t.Due == due && t.CreatedAt >= createdAfter && t.CreatedAt <= createdBefore && t.FiredAt != 0 && t.FiredAt <= firedBefore);

    /// <summary>A readable list of the timers (for failure messages).</summary>
    public string Describe(long origin) =>
        string.Join(", ", Timers.Select(t =>
            $"{t.Due.TotalMilliseconds:0}ms@{Ms(origin, t.CreatedAt):0.0}->{(t.FiredAt == 0 ? "pending" : Ms(origin, t.FiredAt).ToString("0.0"))}"));

    /// <summary>Milliseconds from <paramref name="origin"/> to <paramref name="stamp"/> (Stopwatch timestamps).</summary>
    public static double Ms(long origin, long stamp) => (stamp - origin) * 1000.0 / Stopwatch.Frequency;
}
