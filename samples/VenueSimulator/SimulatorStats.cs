using System.Collections.Concurrent;

namespace VenueSimulator;

/// <summary>
/// Live counters of a running simulator. All members are thread-safe reads of counters the
/// sessions update as they go. <see cref="WaitUntilAsync"/> lets tests wait on a condition
/// instead of sleeping: it re-evaluates on every connection-level change (accept, reject,
/// disconnect) and on every login and order. Per-message counters do not wake waiters, to keep
/// the tick path cheap.
/// </summary>
public sealed class SimulatorStats
{
    private long _connectionsAccepted;
    private long _activeConnections;
    private long _handshakesRejected;
    private long _messagesSent;
    private long _logins;
    private long _ordersAccepted;
    private long _ordersRefused;
    private readonly ConcurrentDictionary<string, long> _messagesByTopic = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, long> _clientCloses = new();
    private readonly long[] _disconnects = new long[Enum.GetValues<DisconnectReason>().Length];

    // Swapped and completed on each connection-level change; waiters re-check their condition.
    private TaskCompletionSource _changed = NewSignal();

    /// <summary>WebSocket handshakes accepted since start.</summary>
    public long ConnectionsAccepted => Interlocked.Read(ref _connectionsAccepted);

    /// <summary>Connections currently open.</summary>
    public long ActiveConnections => Interlocked.Read(ref _activeConnections);

    /// <summary>Handshakes answered with 401 (or another non-101 status).</summary>
    public long HandshakesRejected => Interlocked.Read(ref _handshakesRejected);

    /// <summary>Logins answered "ok" (<c>{"op":"login"}</c>).</summary>
    public long Logins => Interlocked.Read(ref _logins);

    /// <summary>Orders accepted (sent after the connection's login).</summary>
    public long OrdersAccepted => Interlocked.Read(ref _ordersAccepted);

    /// <summary>Orders refused with <c>login_required</c> (sent before the connection's login).</summary>
    public long OrdersRefused => Interlocked.Read(ref _ordersRefused);

    /// <summary>All messages sent, control messages included.</summary>
    public long MessagesSent => Interlocked.Read(ref _messagesSent);

    /// <summary>Messages (ticks and snapshots) sent for <paramref name="topic"/>.</summary>
    public long MessagesSentFor(string topic) => _messagesByTopic.TryGetValue(topic, out var n) ? n : 0;

    /// <summary>A copy of the per-topic message counts.</summary>
    public IReadOnlyDictionary<string, long> MessagesSentByTopic => new Dictionary<string, long>(_messagesByTopic, StringComparer.Ordinal);

    /// <summary>Disconnects counted for <paramref name="reason"/>.</summary>
    public long Disconnects(DisconnectReason reason) => Interlocked.Read(ref _disconnects[(int)reason]);

    /// <summary>A copy of all disconnect counts by reason.</summary>
    public IReadOnlyDictionary<DisconnectReason, long> DisconnectsByReason =>
        Enum.GetValues<DisconnectReason>().ToDictionary(r => r, Disconnects);

    /// <summary>
    /// Completes once <paramref name="condition"/> holds. It is evaluated now and after every
    /// connection-level change; bound it with <paramref name="cancellationToken"/> or WaitAsync.
    /// </summary>
    public async Task WaitUntilAsync(Func<SimulatorStats, bool> condition, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        while (true)
        {
            // Read the signal before the condition: a change in between completes this signal.
            var signal = Volatile.Read(ref _changed).Task;
            if (condition(this)) return;
            await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Close handshakes the client started, by the close code it sent (-1: a close frame without a
    /// status). A graceful client shutdown shows up as 1000.
    /// </summary>
    public long ClientCloses(int code) => _clientCloses.TryGetValue(code, out var n) ? n : 0;

    /// <inheritdoc />
    public override string ToString() =>
        $"accepted={ConnectionsAccepted} active={ActiveConnections} rejected={HandshakesRejected} sent={MessagesSent} " +
        string.Join(' ', DisconnectsByReason.Where(kv => kv.Value > 0).Select(kv => $"{kv.Key}={kv.Value}")) +
        string.Concat(_clientCloses.OrderBy(kv => kv.Key).Select(kv => $" client-close-{kv.Key}={kv.Value}"));

    internal void OnAccepted()
    {
        Interlocked.Increment(ref _connectionsAccepted);
        Interlocked.Increment(ref _activeConnections);
        Pulse();
    }

    internal void OnRejected()
    {
        Interlocked.Increment(ref _handshakesRejected);
        Pulse();
    }

    internal void OnDisconnected(DisconnectReason reason)
    {
        Interlocked.Increment(ref _disconnects[(int)reason]);
        Interlocked.Decrement(ref _activeConnections);
        Pulse();
    }

    internal void OnLogin()
    {
        Interlocked.Increment(ref _logins);
        Pulse();
    }

    internal void OnOrder(bool accepted)
    {
        if (accepted) Interlocked.Increment(ref _ordersAccepted);
        else Interlocked.Increment(ref _ordersRefused);
        Pulse();
    }

    internal void OnClientClose(int? code)
    {
        // Counted before the disconnect that follows it, so a waiter on the disconnect sees the code.
        _clientCloses.AddOrUpdate(code ?? -1, 1, static (_, n) => n + 1);
    }

    internal void OnSent(string? topic)
    {
        Interlocked.Increment(ref _messagesSent);
        if (topic is not null) _messagesByTopic.AddOrUpdate(topic, 1, static (_, n) => n + 1);
    }

    private void Pulse() => Interlocked.Exchange(ref _changed, NewSignal()).TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
