namespace TradingAdapters.State;

/// <summary>
/// Per-topic subscription state shared by the adapters: which subscribe request is in flight,
/// the last accepted sequence number, the last price, and the counters the views show.
/// </summary>
/// <remarks>
/// <para>
/// Frames from the transport carry no epoch, and after a reconnect the ring may still hold ticks
/// of the old connection. So a subscription is identified by the <c>id</c> of its subscribe
/// request: from <see cref="BeginSubscribe"/> until the venue's <c>subscribed</c> reply echoes
/// that id, every tick of the topic belongs to a replaced subscription and is ignored. The
/// venue promises (PROTOCOL.md) that no tick of a replaced subscription follows the reply, and
/// that the new one starts at seq 1, so "seq == last + 1" is exact from then on.
/// </para>
/// <para>Thread-safe: the frame pump, the lifecycle watcher and the timers all call in. One lock guards all state.</para>
/// </remarks>
public sealed class TopicBook
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Entry> _topics = new(StringComparer.Ordinal); // guarded by _gate
    private readonly Dictionary<long, long> _ticksByEpoch = new(); // guarded by _gate
    private long _nextId; // guarded by _gate

    /// <summary>Creates the book for a fixed set of topics.</summary>
    public TopicBook(IEnumerable<string> topics)
    {
        ArgumentNullException.ThrowIfNull(topics);
        foreach (var topic in topics) _topics[topic] = new Entry(topic);
        if (_topics.Count == 0) throw new ArgumentException("At least one topic is required.", nameof(topics));
    }

    /// <summary>The topics followed, in the order given.</summary>
    public IReadOnlyList<string> Topics { get { lock (_gate) return [.. _topics.Keys]; } }

    /// <summary>A fresh request id (subscribe, snapshot, ping share one sequence so replies are unambiguous).</summary>
    public long NextId() { lock (_gate) return ++_nextId; }

    /// <summary>
    /// Marks <paramref name="topic"/> as being (re)subscribed on <paramref name="epoch"/> and
    /// returns the request id to send. Ticks are ignored until the reply with this id.
    /// <c>single</c> is true for a one-topic resubscribe (gap, staleness), counted per topic, and
    /// false for an epoch replay.
    /// </summary>
    public long BeginSubscribe(string topic, long epoch, DateTimeOffset now, bool single)
    {
        lock (_gate)
        {
            var entry = _topics[topic];
            entry.PendingId = ++_nextId;
            entry.PendingEpoch = epoch;
            entry.LastActivity = now;
            entry.Live = false;
            if (single) entry.Resubscribes++;
            return entry.PendingId.Value;
        }
    }

    /// <summary>The venue confirmed request <paramref name="id"/>: its topics are live from seq 0.</summary>
    public void OnSubscribed(long id, IReadOnlyList<string> topics, DateTimeOffset now)
    {
        lock (_gate)
        {
            foreach (var topic in topics)
            {
                if (!_topics.TryGetValue(topic, out var entry) || entry.PendingId != id) continue;
                entry.PendingId = null;
                entry.Live = true;
                entry.Epoch = entry.PendingEpoch;
                entry.LastSeq = 0;
                entry.LastActivity = now;
            }
        }
    }

    /// <summary>Checks one tick against the topic's sequence and records it; <paramref name="epoch"/> is its subscription's epoch when accepted.</summary>
    public TickOutcome OnTick(string topic, long seq, decimal? price, DateTimeOffset now, out long epoch)
    {
        epoch = -1;
        lock (_gate)
        {
            if (!_topics.TryGetValue(topic, out var entry) || !entry.Live) return TickOutcome.Ignored;
            if (seq != entry.LastSeq + 1)
            {
                // Stop trusting this subscription at once: later ticks would all look like gaps.
                entry.Gaps++;
                entry.Live = false;
                return TickOutcome.Gap;
            }
            epoch = entry.Epoch;
            entry.LastSeq = seq;
            entry.LastPrice = price ?? entry.LastPrice;
            entry.Ticks++;
            entry.LastTickAt = now;
            entry.LastActivity = now;
            _ticksByEpoch[entry.Epoch] = _ticksByEpoch.GetValueOrDefault(entry.Epoch) + 1;
            return seq == 1 ? TickOutcome.AcceptedFirst : TickOutcome.Accepted;
        }
    }

    /// <summary>A snapshot re-bases the topic: the next tick must be <paramref name="seq"/> + 1.</summary>
    public void OnSnapshot(string topic, long seq, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (!_topics.TryGetValue(topic, out var entry) || !entry.Live) return;
            entry.LastSeq = seq;
            entry.LastActivity = now;
        }
    }

    /// <summary>
    /// Topics with no tick (or, while a subscribe is in flight, no reply) for longer than
    /// <paramref name="staleAfter"/>: candidates for a resubscribe.
    /// </summary>
    public IReadOnlyList<string> StaleTopics(DateTimeOffset now, TimeSpan staleAfter)
    {
        lock (_gate)
        {
            return [.. _topics.Values.Where(e => now - e.LastActivity > staleAfter).Select(e => e.Topic)];
        }
    }

    /// <summary>True when the topic's current subscription is confirmed.</summary>
    public bool IsLive(string topic) { lock (_gate) return _topics[topic].Live; }

    /// <summary>Ticks accepted per connection epoch (the epoch their subscription was made on).</summary>
    public IReadOnlyDictionary<long, long> TicksByEpoch { get { lock (_gate) return new Dictionary<long, long>(_ticksByEpoch); } }

    /// <summary>A copy of every topic's state.</summary>
    public IReadOnlyList<TopicView> Snapshot()
    {
        lock (_gate)
        {
            return [.. _topics.Values.Select(e => new TopicView(e.Topic, e.Live, e.Epoch, e.LastSeq, e.LastPrice, e.Ticks, e.Gaps, e.Resubscribes, e.LastTickAt))];
        }
    }

    private sealed class Entry(string topic)
    {
        public string Topic { get; } = topic;
        public long? PendingId { get; set; }
        public long PendingEpoch { get; set; }
        public bool Live { get; set; }
        public long Epoch { get; set; }
        public long LastSeq { get; set; }
        public decimal? LastPrice { get; set; }
        public long Ticks { get; set; }
        public long Gaps { get; set; }
        public long Resubscribes { get; set; }
        public DateTimeOffset? LastTickAt { get; set; }
        public DateTimeOffset LastActivity { get; set; } = DateTimeOffset.MaxValue; // not stale before the first subscribe
    }
}
