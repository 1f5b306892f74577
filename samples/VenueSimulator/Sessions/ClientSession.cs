using System.Buffers;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using VenueSimulator.Protocol;

namespace VenueSimulator.Sessions;

/// <summary>
/// One accepted WebSocket: runs the receive loop (commands, inbound rate limit, size limit),
/// owns the topic subscriptions and the lifetime/heartbeat timers, and records why it ended.
///
/// Invariants:
/// I1: per topic, ticks carry seq 1, 2, 3, … from each (re-)subscription, with no gap
///     (SimulatorTests.Subscribe_yields_per_topic_seq_from_one); with venue sequences, the venue's
///     seq from the first tick after the subscription, +1 each, with no gap.
/// I2: after ExpireTopic returns, no tick of that topic is written after the next reply to
///     the client (SimulatorTests.ExpireTopic_silences_one_topic_and_resubscribe_revives_it).
/// I3: the first reason recorded wins; a close we started is never reported as the client's.
/// </summary>
internal sealed class ClientSession
{
    private const int ReceiveChunkBytes = 16 * 1024;

    private readonly HttpContext _http;
    private readonly WebSocket _socket;
    private readonly SimulatorOptions _options;
    private readonly SimulatorStats _stats;
    private readonly CancellationTokenSource _cts;
    private readonly StallGate _stall = new();
    private readonly SessionSender _sender;
    private readonly InboundRateWindow _rateWindow;
    private readonly Random _random;
    private readonly Dictionary<string, TopicSubscription> _subscriptions = new(StringComparer.Ordinal); // guarded by itself
    private readonly HashSet<string> _knownTopics;
    private readonly VenueTape? _tape; // venue-wide sequences (SimulatorOptions.VenueSequences); null: per connection
    private int _reason = -1; // first DisconnectReason recorded, -1 while none (I3)
    private volatile bool _closing;

    public ClientSession(long id, HttpContext http, WebSocket socket, SimulatorOptions options, SimulatorStats stats, CancellationToken shutdown, VenueTape? tape = null)
    {
        _tape = tape;
        Query = http.Request.QueryString.Value ?? string.Empty;
        Id = id;
        _http = http;
        _socket = socket;
        _options = options;
        _stats = stats;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
        _sender = new SessionSender(socket, _stall, stats, _cts.Token);
        _rateWindow = new InboundRateWindow(options.InboundMessagesPerSecond);
        _random = options.Seed is { } seed ? new Random(unchecked(seed * 31 + (int)id)) : new Random();
        _knownTopics = new HashSet<string>(options.Topics, StringComparer.Ordinal);
    }

    public long Id { get; }

    /// <summary>The handshake's query string ("?leg=a"), to pick sessions out (<c>DropConnectionsWithQuery</c>).</summary>
    public string Query { get; }

    /// <summary>Runs until the socket is closed or aborted; returns the reason it ended.</summary>
    public async Task<DisconnectReason> RunAsync()
    {
        var background = new List<Task>();
        if (_options.MaxConnectionLifetime is { } lifetime) background.Add(LifetimeAsync(lifetime));
        if (_options.HeartbeatInterval is { } heartbeat) background.Add(HeartbeatAsync(heartbeat));
        try
        {
            await ReceiveLoopAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            SetReason(IsKeepAliveTimeout(ex) ? DisconnectReason.KeepAliveTimeout : DisconnectReason.ClientAborted);
        }
        finally
        {
            _cts.Cancel();
            StopAllSubscriptions();
        }
        await Task.WhenAll(background).ConfigureAwait(false);
        return (DisconnectReason)_reason;
    }

    /// <summary>Aborts the TCP connection without a close frame.</summary>
    public void Abort(DisconnectReason reason)
    {
        SetReason(reason);
        _options.Log?.Invoke($"#{Id} abort ({reason})");
        try
        {
            // Kestrel disposes the request's features once the session has ended (the client left
            // first, or the host is stopping): aborting it then throws, and there is nothing to abort.
            _http.Abort();
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Session already over.
        }
    }

    public void Stall(TimeSpan duration)
    {
        _options.Log?.Invoke($"#{Id} stall {duration.TotalMilliseconds:0} ms");
        _stall.StallFor(duration);
    }

    /// <summary>Silently stops ticks of <paramref name="topic"/>; the entry stays (I2).</summary>
    public void ExpireTopic(string topic)
    {
        lock (_subscriptions)
        {
            if (_subscriptions.TryGetValue(topic, out var sub)) sub.Stop();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var token = _cts.Token;
        var chunk = new byte[ReceiveChunkBytes];
        var message = new ArrayBufferWriter<byte>(ReceiveChunkBytes);
        while (true)
        {
            await _stall.WaitAsync(token).ConfigureAwait(false);
            var result = await _socket.ReceiveAsync(chunk.AsMemory(), token).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                if (!_closing)
                {
                    // The client started the close: answer it with the same status.
                    SetReason(DisconnectReason.ClientClosed);
                    _closing = true;
                    await _sender.CloseAsync(_socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, "bye").ConfigureAwait(false);
                }
                return;
            }
            // Once we have sent our close, we only drain until the client's close reply.
            if (_closing) continue;

            if (message.WrittenCount + result.Count > _options.MaxInboundMessageBytes)
            {
                BeginClose(WebSocketCloseStatus.MessageTooBig, "message too big", DisconnectReason.MessageTooBig);
                continue;
            }
            message.Write(chunk.AsSpan(0, result.Count));
            if (!result.EndOfMessage) continue;

            if (!_rateWindow.TryRecord(Environment.TickCount64))
            {
                BeginClose(WebSocketCloseStatus.PolicyViolation, "rate limit", DisconnectReason.RateLimited);
                continue;
            }
            await HandleAsync(message.WrittenSpan.ToArray()).ConfigureAwait(false);
            message.ResetWrittenCount();
        }
    }

    private Task HandleAsync(byte[] utf8)
    {
        if (!ClientCommandParser.TryParse(utf8, out var command, out var error))
            return ReplyAsync(() => ServerMessages.Error("bad_request", error!, null));

        return command!.Op switch
        {
            ClientOp.Subscribe => SubscribeAsync(command),
            ClientOp.Unsubscribe => UnsubscribeAsync(command),
            ClientOp.Ping => ReplyAsync(() => ServerMessages.Pong(command.Id, NowMs())),
            ClientOp.Snapshot => SnapshotAsync(command),
            _ => Task.CompletedTask,
        };
    }

    private async Task SubscribeAsync(ClientCommand command)
    {
        var known = command.Topics.Where(_knownTopics.Contains).Distinct(StringComparer.Ordinal).ToList();
        var unknown = command.Topics.Where(t => !_knownTopics.Contains(t)).Distinct(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
            await ReplyAsync(() => ServerMessages.Error("unknown_topic", "unknown topic(s): " + string.Join(",", unknown), command.Id)).ConfigureAwait(false);
        if (known.Count == 0) return;

        // Replace before replying: any tick of the old subscription that has not yet been
        // written sees its cancelled gate inside the sender lock and is dropped, so nothing of
        // the old sequence can follow the "subscribed" reply.
        var fresh = new List<TopicSubscription>(known.Count);
        lock (_subscriptions)
        {
            foreach (var topic in known)
            {
                if (_subscriptions.Remove(topic, out var old)) old.Stop();
                var sub = _tape is null
                    ? new TopicSubscription(topic, new PriceWalk(_options.InitialPrice, new Random(_random.Next())), _cts.Token)
                    : new TopicSubscription(topic, _tape, _cts.Token);
                _subscriptions[topic] = sub;
                fresh.Add(sub);
            }
        }
        await ReplyAsync(() => ServerMessages.Subscribed(known, command.Id)).ConfigureAwait(false);
        foreach (var sub in fresh)
        {
            if (_options.SnapshotOnSubscribe) await SendSnapshotAsync(sub.Topic, sub, command.Id).ConfigureAwait(false);
            sub.Start(_options.TickIntervalFor(sub.Topic), _sender);
        }
    }

    private Task UnsubscribeAsync(ClientCommand command)
    {
        lock (_subscriptions)
        {
            foreach (var topic in command.Topics)
            {
                if (_subscriptions.Remove(topic, out var old)) old.Stop();
            }
        }
        return ReplyAsync(() => ServerMessages.Unsubscribed(command.Topics, command.Id));
    }

    private Task SnapshotAsync(ClientCommand command)
    {
        var topic = command.Topics[0];
        if (!_knownTopics.Contains(topic))
            return ReplyAsync(() => ServerMessages.Error("unknown_topic", "unknown topic(s): " + topic, command.Id));
        TopicSubscription? sub;
        lock (_subscriptions) _subscriptions.TryGetValue(topic, out sub);
        return SendSnapshotAsync(topic, sub, command.Id);
    }

    private Task SendSnapshotAsync(string topic, TopicSubscription? sub, long? id)
    {
        _ = id; // the snapshot carries the book's seq, not the request id (Coinbase-style)
        var random = new Random(_random.Next());
        // Built inside the sender lock: LastSeq is exactly the last tick written before it.
        return _sender.SendAsync(
            () => ServerMessages.Snapshot(topic, sub?.LastSeq ?? 0, sub?.CurrentPrice ?? _options.InitialPrice, _options.SnapshotBytes, random, NowMs()),
            topic,
            _cts.Token);
    }

    private Task ReplyAsync(Func<ReadOnlyMemory<byte>> build) => _sender.SendAsync(build, null, _cts.Token);

    /// <summary>Sends our close frame, then aborts if the client does not answer in time.</summary>
    private void BeginClose(WebSocketCloseStatus status, string description, DisconnectReason reason)
    {
        if (_closing) return;
        _closing = true;
        SetReason(reason);
        _options.Log?.Invoke($"#{Id} close {(int)status} {description}");
        StopAllSubscriptions();
        _ = CloseAndEnforceAsync(status, description);
    }

    private async Task CloseAndEnforceAsync(WebSocketCloseStatus status, string description)
    {
        try
        {
            await _sender.CloseAsync(status, description).ConfigureAwait(false);
            await Task.Delay(_options.CloseHandshakeTimeout, _cts.Token).ConfigureAwait(false);
            Abort((DisconnectReason)_reason); // the client never answered our close
        }
        catch (Exception)
        {
            // Session ended (cancelled) or the socket already died: nothing left to enforce.
        }
    }

    private async Task LifetimeAsync(TimeSpan lifetime)
    {
        try
        {
            await Task.Delay(lifetime, _cts.Token).ConfigureAwait(false);
            BeginClose(WebSocketCloseStatus.EndpointUnavailable, "connection lifetime reached", DisconnectReason.LifetimeExpired);
        }
        catch (OperationCanceledException)
        {
            // Ended before its lifetime.
        }
    }

    private async Task HeartbeatAsync(TimeSpan interval)
    {
        try
        {
            using var timer = new PeriodicTimer(interval);
            while (await timer.WaitForNextTickAsync(_cts.Token).ConfigureAwait(false))
            {
                if (_closing) return;
                await ReplyAsync(() => ServerMessages.Heartbeat(NowMs())).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // Session over or socket dead; the receive loop records why.
        }
    }

    private void StopAllSubscriptions()
    {
        lock (_subscriptions)
        {
            foreach (var sub in _subscriptions.Values) sub.Stop();
        }
    }

    private void SetReason(DisconnectReason reason) => Interlocked.CompareExchange(ref _reason, (int)reason, -1);

    // ManagedWebSocket gives no public signal for a missed keep-alive pong: it aborts its
    // stream, and our pending read fails with Kestrel's ConnectionAbortedException ("aborted
    // by the application"). We abort only after recording our own reason (I3), and a client
    // reset surfaces as an IOException instead, so with pings on this can only be the timeout.
    private bool IsKeepAliveTimeout(Exception ex)
    {
        if (_options.ServerPingInterval is not { } interval || interval <= TimeSpan.Zero || _options.ServerPingTimeout is null)
            return false;
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is TimeoutException or ConnectionAbortedException) return true;
        }
        return false;
    }

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}
