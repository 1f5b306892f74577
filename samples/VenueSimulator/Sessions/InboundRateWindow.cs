namespace VenueSimulator.Sessions;

/// <summary>
/// Sliding 1-second window over inbound message arrival times (Binance: 5 messages/s per
/// connection, offenders are disconnected). Pure: the caller passes the timestamp, so the
/// rule is unit-tested to the millisecond. Used by one receive loop only: not thread-safe.
/// </summary>
internal sealed class InboundRateWindow
{
    private static readonly long WindowMs = 1000;
    private readonly int _limit;
    private readonly Queue<long> _arrivals = new();

    /// <param name="limit">Messages allowed in any 1 s window; 0 disables the limit.</param>
    public InboundRateWindow(int limit) => _limit = limit;

    /// <summary>Records a message at <paramref name="nowMs"/>; false when it exceeds the limit.</summary>
    public bool TryRecord(long nowMs)
    {
        if (_limit == 0) return true;
        // A message exactly 1000 ms older has left the window.
        while (_arrivals.Count > 0 && nowMs - _arrivals.Peek() >= WindowMs) _arrivals.Dequeue();
        if (_arrivals.Count >= _limit) return false;
        _arrivals.Enqueue(nowMs);
        return true;
    }
}
