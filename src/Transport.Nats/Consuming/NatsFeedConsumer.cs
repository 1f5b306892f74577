using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;
using Transport.Nats.Consuming;
using Transport.Nats.Feeds;
using Transport.Nats.Lifecycle;

namespace Transport.Nats;

/// <summary>
/// Reads a relayed feed from NATS JetStream through the transport's own contract: an
/// <see cref="IFrameSource"/> (the same drop-oldest ring, bounds and lag signal as a connection's source)
/// and an <see cref="ILifecycleChannel"/> (the relay's lifecycle, combined with the consumer's own link to
/// NATS and the relay's liveness), so an adapter written against a <see cref="ReconnectingConnection"/>
/// runs unchanged behind the relay (<see cref="AsConnection"/>).
/// </summary>
/// <remarks>
/// <para>
/// Every frame keeps the relay's epoch (<see cref="Frame.Epoch"/>) and receive time
/// (<see cref="Frame.ReceivedAt"/>, converted to this process's <see cref="TimeProvider"/>, so
/// <c>time.GetElapsedTime(frame.ReceivedAt)</c> is the time since the gateway received it, clock skew
/// between the machines included). Gaps in the relay sequence, frames the ring drops, the relay's own
/// losses and frames of a fenced relay all advance <see cref="LifecycleSnapshot.TotalLagged"/>; duplicates
/// (retried publishes, redeliveries) are discarded. A relay takeover is an epoch advance (Resumed).
/// </para>
/// <para>
/// Resume: an ordered consumer starts after <see cref="NatsFeedOptions.StartAfter"/> (persist
/// <see cref="Position"/>); a durable one where JetStream has it. See docs/adr/0017-nats-relay.md.
/// </para>
/// </remarks>
public sealed class NatsFeedConsumer : IAsyncDisposable
{
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;
    private static readonly byte[] AckPayload = "+ACK"u8.ToArray();

    private readonly NatsFeedOptions _options;
    private readonly NatsFeedLayout _layout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly NatsConnection _nats;
    private readonly NatsJSContext _js;
    private readonly FeedRing _ring;
    private readonly LifecycleChannel _lifecycle;
    private readonly FeedSource _source;
    private readonly SequenceTracker _tracker = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<Task> _loops = [];

    // Guarded by _gate.
    private LifecycleRecord? _relay;
    private LeaseRecord? _lease;
    private long _leaseSeenAt;
    private DateTimeOffset? _leaseSeenWall;
    private bool _busUp = true;
    private DateTimeOffset? _busDownSince;
    private bool _everUp;
    private bool _disposed;
    private ulong _lastStreamSequence;
    private long _received;
    private long _gapFrames;
    private long _gaps;
    private long _duplicates;
    private long _stale;
    private long _upstreamLag;
    private long _foreign;
    private long _restarts;
    private bool _foreignLogged;
    private CancellationTokenSource? _readRestart;

    private NatsFeedConsumer(NatsFeedOptions options, NatsConnection nats, TimeProvider time, ILogger logger)
    {
        _options = options;
        _layout = options.Layout();
        _time = time;
        _logger = logger;
        _nats = nats;
        _js = new NatsJSContext(nats);
        _ring = new FeedRing(options.RingCapacityFrames, options.RingCapacityBytes);
        _lifecycle = new LifecycleChannel(LifecycleSnapshot.Initial with { DownSince = time.GetUtcNow() }, logger);
        _source = new FeedSource(this);
        if (options.StartAfterPosition is { } start)
        {
            _lastStreamSequence = start.StreamSequence;
            _tracker.Resume(start.Generation, start.RelaySequence);
            _source.SetPosition(start);
        }
    }

    /// <summary>The feed's name.</summary>
    public string Feed => _layout.Feed;

    /// <summary>The frames: single consumer, drop-oldest ring, ends when the consumer is disposed.</summary>
    public IFrameSource Source => _source;

    /// <summary>The feed's lifecycle as this consumer sees it.</summary>
    public ILifecycleChannel Lifecycle => _lifecycle;

    /// <summary>The position after the last frame handed out (persist it to resume an ordered consumer).</summary>
    public FeedPosition Position => _source.Position;

    /// <summary>The consumer's counts.</summary>
    public NatsFeedStats Stats
    {
        get
        {
            lock (_gate)
            {
                return new NatsFeedStats(
                    _received,
                    _source.Delivered,
                    _ring.Count,
                    _gapFrames,
                    _gaps,
                    _duplicates,
                    _stale,
                    _ring.TotalLagged,
                    _upstreamLag,
                    _lifecycle.Current.TotalLagged,
                    _foreign,
                    _restarts);
            }
        }
    }

    /// <summary>
    /// Connects to NATS (checking the server, as the relay does) and starts reading the feed. The feed's stream
    /// need not exist yet: the consumer waits for the relay (its lifecycle says Connecting meanwhile).
    /// </summary>
    /// <param name="options">The consumer's settings (validated here).</param>
    /// <param name="loggerFactory">Where it and NATS.Net log.</param>
    /// <param name="timeProvider">The clock for receive times and the lifecycle.</param>
    /// <param name="cancellationToken">Cancels starting.</param>
    /// <returns>The running consumer.</returns>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    /// <exception cref="TransportException">NATS cannot be reached (Connection) or the server is unsuitable (Configuration).</exception>
    public static async Task<NatsFeedConsumer> StartAsync(NatsFeedOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger("Transport.Nats.Consumer");
        var nats = await NatsBus.ConnectAsync(options.Nats, "transport-consumer-" + options.Feed, loggerFactory, cancellationToken).ConfigureAwait(false);
        var consumer = new NatsFeedConsumer(options, nats, timeProvider ?? TimeProvider.System, logger);
        try
        {
            var kv = await NatsBus.EnsureBucketAsync(new NatsKVContext(consumer._js), consumer._layout.Bucket, consumer._time, cancellationToken).ConfigureAwait(false);
            consumer.Start(kv);
            NatsLog.ConsumerStarted(logger, options.Feed, options.Nats.RedactedUrl, options.Kind.ToString(), options.StartAfterPosition?.ToString() ?? (options.Kind == NatsConsumerKind.Durable ? "where the durable consumer is" : "at the stream's start"));
            return consumer;
        }
        catch
        {
            await consumer.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The feed as a <see cref="ReconnectingConnection"/> for an adapter written against one: its Source and
    /// Lifecycle are this consumer's; its Sink refuses every frame (the gateway owns the venue session and
    /// its subscriptions: <c>TrySend</c> answers <see cref="SendStatus.Invalid"/>, <c>SendAsync</c> throws
    /// a Configuration error); <c>ForceReconnect</c> re-creates the JetStream consumer from the position;
    /// <c>ShutdownAsync</c> disposes this consumer.
    /// </summary>
    /// <returns>The connection view.</returns>
    public ReconnectingConnection AsConnection() =>
        new("nats:" + _layout.Feed, new RefusingSink(_layout.Feed), _source, _lifecycle, new Control(this));

    /// <summary>Stops reading, closes the source (buffered frames stay readable) and publishes Closed.</summary>
    /// <returns>Completes when stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        Task[] loops;
        lock (_gate)
        {
            loops = [.. _loops];
        }

        foreach (var loop in loops)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException || NatsBus.IsTransient(ex))
            {
            }
        }

        await AckNowAsync(CancellationToken.None).ConfigureAwait(false);
        Recompose();
        _ring.Complete();
        NatsTelemetry.Unregister(this);
        await _nats.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private void Start(INatsKVStore kv)
    {
        _nats.ConnectionDisconnected += OnDisconnected;
        _nats.ConnectionOpened += OnOpened;
        var token = _stop.Token;
        lock (_gate)
        {
            _loops.Add(Task.Run(() => ReadLoopAsync(token), CancellationToken.None));
            _loops.Add(Task.Run(() => WatchLoopAsync(kv, token), CancellationToken.None));
            _loops.Add(Task.Run(() => TickLoopAsync(token), CancellationToken.None));
            if (_options.Kind == NatsConsumerKind.Durable)
            {
                _loops.Add(Task.Run(() => AckLoopAsync(token), CancellationToken.None));
            }
        }

        NatsTelemetry.Register(this);
    }

    private ValueTask OnDisconnected(object? sender, NatsEventArgs args)
    {
        lock (_gate)
        {
            if (_busUp)
            {
                _busUp = false;
                _busDownSince = _time.GetUtcNow();
            }
        }

        Recompose();
        return ValueTask.CompletedTask;
    }

    private ValueTask OnOpened(object? sender, NatsEventArgs args)
    {
        lock (_gate)
        {
            _busUp = true;
            _busDownSince = null;
        }

        Recompose();
        return ValueTask.CompletedTask;
    }

    // Reads the stream from the position, re-creating the JetStream consumer after any failure.
    private async Task ReadLoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            using var restart = CancellationTokenSource.CreateLinkedTokenSource(stop);
            lock (_gate)
            {
                _readRestart = restart;
            }

            try
            {
                var consumer = await CreateConsumerAsync(restart.Token).ConfigureAwait(false);
                var consumeOpts = new NatsJSConsumeOpts { MaxMsgs = Math.Clamp(_options.RingCapacityFrames, 16, 1000) };
                await foreach (var message in consumer.ConsumeAsync(Raw, consumeOpts, restart.Token).ConfigureAwait(false))
                {
                    Process(message);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException) when (restart.IsCancellationRequested)
            {
                // ForceReconnect: start again from the position.
            }
            catch (NatsJSApiException ex) when (ex.Error.Code == 404)
            {
                // No stream yet: the relay has not started. Wait for it.
                await Task.Delay(_options.CheckInterval * 5, _time, stop).ConfigureAwait(false);
                continue;
            }
            catch (Exception ex)
            {
                ulong position;
                lock (_gate)
                {
                    _restarts++;
                    position = _lastStreamSequence;
                }

                NatsLog.ConsumerRestarting(_logger, _layout.Feed, ex.GetType().Name, position);
                await Task.Delay(_options.CheckInterval * 2, _time, stop).ConfigureAwait(false);
            }
        }
    }

    private async Task<INatsJSConsumer> CreateConsumerAsync(CancellationToken cancellationToken)
    {
        ulong after;
        lock (_gate)
        {
            after = _lastStreamSequence;
        }

        if (_options.Kind == NatsConsumerKind.Ordered)
        {
            return await _js.CreateOrderedConsumerAsync(
                _layout.StreamName,
                new NatsJSOrderedConsumerOpts
                {
                    DeliverPolicy = after == 0 ? ConsumerConfigDeliverPolicy.All : ConsumerConfigDeliverPolicy.ByStartSequence,
                    OptStartSeq = after == 0 ? 0 : after + 1,
                },
                cancellationToken).ConfigureAwait(false);
        }

        // A durable is owned by one consumer process. At every start it is re-created from the further of its
        // acknowledged floor and what this instance already received: frames delivered but not acknowledged by a
        // crashed instance come again at once (not after AckWait), and a restart of the read loop repeats none.
        ulong start = after;
        try
        {
            var existing = await _js.GetConsumerAsync(_layout.StreamName, _options.DurableName!, cancellationToken).ConfigureAwait(false);
            start = Math.Max(start, existing.Info.AckFloor.StreamSeq);
            await _js.DeleteConsumerAsync(_layout.StreamName, _options.DurableName!, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404 && ex.Error.ErrCode != 10059)
        {
            // New durable: from StartAfter, or the stream's start.
        }

        return await _js.CreateOrUpdateConsumerAsync(
            _layout.StreamName,
            new ConsumerConfig(_options.DurableName!)
            {
                DurableName = _options.DurableName,
                AckPolicy = ConsumerConfigAckPolicy.All,
                AckWait = _options.AckWait,
                MaxAckPending = _options.RingCapacityFrames,
                DeliverPolicy = start == 0 ? ConsumerConfigDeliverPolicy.All : ConsumerConfigDeliverPolicy.ByStartSequence,
                OptStartSeq = start == 0 ? 0 : start + 1,
            },
            cancellationToken).ConfigureAwait(false);
    }

    private void Process(INatsJSMsg<byte[]> message)
    {
        ulong streamSequence = message.Metadata?.Sequence.Stream ?? 0;
        long gap = 0;
        SequenceVerdict verdict;
        bool countsChanged = false;
        FrameHeaderValues values;
        lock (_gate)
        {
            if (streamSequence > _lastStreamSequence)
            {
                _lastStreamSequence = streamSequence;
            }

            if (!FrameHeaderValues.TryRead(message.Headers, out values))
            {
                _foreign++;
                if (!_foreignLogged)
                {
                    _foreignLogged = true;
                    NatsLog.Foreign(_logger, _layout.Feed, streamSequence);
                }

                return;
            }

            _received++;
            verdict = _tracker.Observe(values.Generation, values.Sequence, out gap);
            switch (verdict)
            {
                case SequenceVerdict.Duplicate:
                    _duplicates++;
                    return;
                case SequenceVerdict.StaleGeneration:
                    _stale++;
                    countsChanged = true;
                    break;
                default:
                    if (gap > 0)
                    {
                        _gaps++;
                        _gapFrames += gap;
                        countsChanged = true;
                    }

                    if (values.Lagged > _upstreamLag)
                    {
                        _upstreamLag = values.Lagged;
                        countsChanged = true;
                    }

                    break;
            }
        }

        if (verdict == SequenceVerdict.Deliver)
        {
            if (gap > 0)
            {
                NatsLog.Gap(_logger, _layout.Feed, gap, values.Sequence);
            }

            var payload = message.Data ?? [];
            var frame = (values.Kind == FrameKind.Binary ? Frame.Binary(payload) : Frame.Text(payload))
                .WithEpoch(values.Epoch)
                .WithReceivedAt(ToTimestamp(values.ReceivedAtUnixMicros));
            if (_ring.Write(frame, new FrameOrigin(streamSequence, values.Sequence, values.Generation, message.ReplyTo)) > 0)
            {
                countsChanged = true;
            }
        }

        if (countsChanged)
        {
            // The lag signal: published within the tick (CheckInterval) by the tick loop, coalesced.
            Volatile.Write(ref _countsDirty, 1);
        }
    }

    private int _countsDirty;

    // The gateway's wall-clock receive time, as a timestamp of this process's clock (0 when unknown).
    private long ToTimestamp(long receivedAtUnixMicros)
    {
        long now = _time.GetTimestamp();
        if (receivedAtUnixMicros <= 0)
        {
            return now;
        }

        long nowMicros = _time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
        long elapsedMicros = Math.Max(0, nowMicros - receivedAtUnixMicros);
        return now - (long)(elapsedMicros / 1_000_000.0 * _time.TimestampFrequency);
    }

    // Follows {feed}.lifecycle and {feed}.lease (one watch, one filter subject: nats-server 2.9 has no multi-filter).
    private async Task WatchLoopAsync(INatsKVStore kv, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var entry in kv.WatchAsync(_layout.Feed + ".*", Raw, new NatsKVWatchOpts(), stop).ConfigureAwait(false))
                {
                    bool deleted = entry.Operation != NatsKVOperation.Put;
                    if (entry.Key == _layout.LifecycleKey)
                    {
                        var record = deleted ? null : FeedJsonContext.ReadLifecycle(entry.Value);
                        lock (_gate)
                        {
                            // Last value wins, but a fenced relay's late write (an older generation) never replaces a newer one.
                            if (record is null || _relay is null || record.Generation >= _relay.Generation)
                            {
                                _relay = record;
                            }
                        }
                    }
                    else if (entry.Key == _layout.LeaseKey)
                    {
                        var record = deleted ? null : FeedJsonContext.ReadLease(entry.Value);
                        lock (_gate)
                        {
                            _lease = record;
                            _leaseSeenAt = _time.GetTimestamp();
                            _leaseSeenWall = _time.GetUtcNow();
                        }
                    }

                    Recompose();
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                NatsLog.WatchFailed(_logger, _layout.Feed, ex.GetType().Name);
                await Task.Delay(_options.CheckInterval * 2, _time, stop).ConfigureAwait(false);
            }
        }
    }

    // Re-checks the lease's liveness and publishes changed counts (the lag signal), every CheckInterval.
    private async Task TickLoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(_options.CheckInterval, _time, stop).ConfigureAwait(false);
            Interlocked.Exchange(ref _countsDirty, 0);
            Recompose();
        }
    }

    private async Task AckLoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(_options.AckInterval, _time, stop).ConfigureAwait(false);
            await AckNowAsync(stop).ConfigureAwait(false);
        }
    }

    private string? _acked;

    // A durable consumer acknowledges the last frame read: with AckPolicy.All it covers every frame before it
    // (those the ring evicted included).
    private async Task AckNowAsync(CancellationToken cancellationToken)
    {
        if (_options.Kind != NatsConsumerKind.Durable)
        {
            return;
        }

        var target = _source.AckTarget;
        if (target is null || ReferenceEquals(target, _acked) || _nats.ConnectionState != NatsConnectionState.Open)
        {
            return;
        }

        try
        {
            await _nats.PublishAsync(target, AckPayload, serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false);
            await _nats.PingAsync(cancellationToken).ConfigureAwait(false);
            _acked = target;
        }
        catch (Exception ex) when (NatsBus.IsTransient(ex))
        {
            NatsLog.AckFailed(_logger, _layout.Feed, ex.GetType().Name);
        }
    }

    private void Recompose()
    {
        ConsumerInputs inputs;
        bool everUp;
        lock (_gate)
        {
            bool leaseLive = false;
            if (_lease is { Released: false } lease)
            {
                // Dead after three missed renewals (bounded by the lease TTL): the consumer is not blind for a whole TTL.
                var bound = TimeSpan.FromMilliseconds(Math.Min(lease.TtlMs, Math.Max(3 * lease.RenewMs, lease.RenewMs + 1000)));
                leaseLive = _time.GetElapsedTime(_leaseSeenAt) < bound;
            }

            inputs = new ConsumerInputs(
                _disposed,
                _busUp && _nats.ConnectionState == NatsConnectionState.Open,
                _busDownSince,
                null,
                _relay,
                leaseLive,
                _leaseSeenWall,
                _upstreamLag,
                _gapFrames,
                _ring.TotalLagged,
                _stale);
            everUp = _everUp;
        }

        var now = _time.GetUtcNow();
        var published = _lifecycle.Current;
        var next = ConsumerLifecycle.Compose(published, inputs, everUp, now);
        if (!ConsumerLifecycle.Same(next, published))
        {
            var result = _lifecycle.Publish(current => ConsumerLifecycle.Compose(current, inputs, everUp, now));
            if (result.IsUp)
            {
                lock (_gate)
                {
                    _everUp = true;
                }
            }
        }
    }

    private void Restart()
    {
        lock (_gate)
        {
            _readRestart?.Cancel();
        }
    }

    /// <summary>The IFrameSource over the ring: records the position and the acknowledgement target of what is read.</summary>
    private sealed class FeedSource(NatsFeedConsumer owner) : IFrameSource
    {
        private readonly Lock _gate = new();
        private FeedPosition _position;
        private long _delivered;
        private string? _ackTarget;

        public FeedPosition Position
        {
            get { lock (_gate) { return _position; } }
        }

        public long Delivered => Interlocked.Read(ref _delivered);

        public string? AckTarget => Volatile.Read(ref _ackTarget);

        public int Count => owner._ring.Count;

        public long BufferedBytes => owner._ring.Bytes;

        public void SetPosition(FeedPosition position)
        {
            lock (_gate)
            {
                _position = position;
            }
        }

        public bool TryRead(out Frame frame)
        {
            if (!owner._ring.TryRead(out frame, out var origin))
            {
                return false;
            }

            OnDelivered(origin, 1);
            return true;
        }

        public int TryReadBatch(Span<Frame> destination)
        {
            int n = owner._ring.TryReadBatch(destination, out var last);
            if (n > 0)
            {
                OnDelivered(last, n);
            }

            return n;
        }

        public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => owner._ring.WaitToReadAsync(cancellationToken);

        public async IAsyncEnumerator<Frame> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            while (await WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (TryRead(out var frame))
                {
                    yield return frame;
                }
            }
        }

        private void OnDelivered(in FrameOrigin origin, int count)
        {
            lock (_gate)
            {
                _position = new FeedPosition(origin.StreamSequence, origin.RelaySequence, origin.Generation);
            }

            Interlocked.Add(ref _delivered, count);
            if (origin.ReplyTo is { } reply)
            {
                Volatile.Write(ref _ackTarget, reply);
            }
        }
    }

    private sealed class RefusingSink(string feed) : IFrameSink
    {
        public int QueuedFrames => 0;

        public long QueuedBytes => 0;

        public long FailedAfterAccept => 0;

        public ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default) =>
            ValueTask.FromException(new TransportException(TransportErrorKind.Configuration, $"Feed {feed} is read from NATS: it has no venue socket to send on (the gateway holds the venue session and its subscriptions)."));

        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => SendAsync(frame, SendOptions.Default, cancellationToken);

        public SendStatus TrySend(Frame frame, SendOptions options = default) => SendStatus.Invalid;
    }

    private sealed class Control(NatsFeedConsumer owner) : IConnectionControl
    {
        public ReconnectTrigger ReconnectTrigger { get; } = new(_ => owner.Restart());

        public Task ShutdownAsync(CancellationToken cancellationToken = default) => owner.DisposeAsync().AsTask().WaitAsync(cancellationToken);

        // The gateway holds the venue socket; it rotates it (this side has no socket of its own to rotate).
        public Task<RotationResult> RotateAsync(CancellationToken cancellationToken = default) =>
            Task.FromException<RotationResult>(new NotSupportedException("A feed read from NATS has no venue socket of its own: the gateway's connection rotates."));
    }
}
