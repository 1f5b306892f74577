using System.Buffers;
using System.Globalization;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;
using Transport.Nats.Feeds;

namespace Transport.Nats.Relay;

// Invariants (tests in tests/Transport.Nats.Tests/Integration/RelayTests.cs):
//
// Relay.R1: Every frame read is published once with the feed's headers, in read order, with consecutive
//     relay sequences continuing the feed's last stored one (a takeover continues the sequence).
//     RelayTests.R1_frames_are_published_in_order_with_headers_and_consecutive_sequences
// Relay.R2: At most MaxInFlight frames are published and unacknowledged at any time.
//     RelayTests.R2_in_flight_publishes_stay_within_the_bound
// Relay.R3: A frame is retried, with the same message id, until JetStream acknowledges it or it is dropped
//     by the outage bound (counted); JetStream stores a retried frame once.
//     ConsumerTests.NATS_restart_mid_stream_loses_no_frame_within_the_outage_bound_and_the_consumer_says_it_was_blind
// Relay.R4: A bus outage is bounded by BufferFrames and BufferBytes; every frame dropped is counted in the
//     snapshot and in the lag header of the next frame published.
//     RelayTests.R4_an_outage_beyond_the_buffer_drops_the_oldest_and_counts_them
// Relay.R5: The source is always drained: the relay never stops reading because the bus is slow or down.
//     (same test as R4: frames keep being read during the outage)
// Relay.R6: Nothing published carries a secret: headers hold numbers, the lifecycle and lease hold the
//     transport's own error messages and a redacted endpoint.
//     RelayTests.R6_nothing_published_carries_a_secret
// Relay.R7: Fenced means silent: once the fence token is cancelled, no frame and no lifecycle is published.
//     ProcessTests.Killing_the_active_relay_hands_the_venue_connection_to_the_standby_within_the_bound (the stall case)
// Relay.R8: Order survives bus failures: frames go out on a publish connection that never reconnects by itself;
//     after a failure a fresh one resends every unacknowledged frame in order, so nothing a failed connection
//     still buffered can be stored ahead of an earlier frame.
//     ConsumerTests.NATS_restart_mid_stream_loses_no_frame_within_the_outage_bound_and_the_consumer_says_it_was_blind

/// <summary>How an active period ended.</summary>
internal enum SessionEnd
{
    /// <summary>The lease was lost: stopped at once.</summary>
    Fenced,

    /// <summary>The input ended by itself (closed, or unrecoverable: see the session's <c>InputError</c>).</summary>
    InputEnded,

    /// <summary>The relay was stopped: the input was closed and the frames it had were published.</summary>
    Stopped,
}

/// <summary>Where the feed's numbering stood when this relay became active.</summary>
/// <param name="LastSequence">The relay sequence of the last stored frame (0: none).</param>
/// <param name="Lagged">The cumulative lag published so far.</param>
/// <param name="BaseEpoch">Added to the input's epochs: 0 for a new feed, else the previous epoch + 1 (a takeover is an epoch advance).</param>
/// <param name="Attempts">Connect attempts published so far.</param>
/// <param name="DownSinceHint">When the previous relay was last seen alive (its last lease renewal), for the first snapshot's DownSince.</param>
internal sealed record Continuation(long LastSequence, long Lagged, long BaseEpoch, long Attempts, DateTimeOffset? DownSinceHint)
{
    public bool IsTakeover => BaseEpoch > 0;

    /// <summary>Reads the stream's last frame and the lifecycle key (Relay.R1).</summary>
    public static async Task<Continuation> ReadAsync(INatsJSStream stream, INatsKVStore kv, NatsFeedLayout layout, DateTimeOffset? downSinceHint, CancellationToken cancellationToken)
    {
        await stream.RefreshAsync(cancellationToken).ConfigureAwait(false);
        FrameHeaderValues? tail = null;
        ulong last = stream.Info.State.LastSeq;
        ulong first = stream.Info.State.FirstSeq;

        // The newest relay frame: normally the last message; a few foreign messages are stepped over.
        for (ulong seq = last; seq >= Math.Max(1, first) && seq + 16 > last && tail is null; seq--)
        {
            try
            {
                var message = await stream.GetAsync(new StreamMsgGetRequest { Seq = seq }, cancellationToken).ConfigureAwait(false);
                if (FrameHeaderValues.TryRead(FrameHeaderValues.ParseStored(message.Message.Hdrs), out var values))
                {
                    tail = values;
                }
            }
            catch (NatsJSApiException ex) when (ex.Error.Code == 404)
            {
                // Deleted or aged out: look further back.
            }
        }

        LifecycleRecord? previous = null;
        try
        {
            var entry = await kv.GetEntryAsync(layout.LifecycleKey, serializer: NatsRawSerializer<byte[]>.Default, cancellationToken: cancellationToken).ConfigureAwait(false);
            previous = FeedJsonContext.ReadLifecycle(entry.Value);
        }
        catch (NatsKVException)
        {
            // Absent or deleted: a new feed.
        }

        bool any = tail is not null || previous is not null;
        long lastEpoch = Math.Max(tail?.Epoch ?? -1, previous?.Epoch ?? -1);
        return new Continuation(
            Math.Max(tail?.Sequence ?? 0, previous?.LastSequence ?? 0),
            Math.Max(tail?.Lagged ?? 0, previous?.TotalLagged ?? 0),
            any ? lastEpoch + 1 : 0,
            previous?.Attempts ?? 0,
            any ? downSinceHint ?? previous?.DownSince ?? previous?.PublishedAt : null);
    }
}

/// <summary>
/// One active period of a relay: reads the input into the <see cref="PendingBuffer"/>, publishes it with
/// bounded in-flight acknowledgements (one reply subscription for every ack, so publishes are batched on
/// the wire), retries what fails, and keeps the lifecycle key current.
/// </summary>
internal sealed class RelaySession
{
    private const int HeaderAllowance = 1024;
    private static readonly NatsRawSerializer<ReadOnlyMemory<byte>> RawMemory = NatsRawSerializer<ReadOnlyMemory<byte>>.Default;
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    private readonly NatsConnection _nats;
    private readonly INatsKVStore _kv;
    private readonly NatsRelayOptions _options;
    private readonly NatsFeedLayout _layout;
    private readonly RelayInput _input;
    private readonly Func<Frame, string?>? _keySelector;
    private readonly long _generation;
    private readonly Continuation _continuation;
    private readonly RelayState _state;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _relayId;
    private readonly string? _endpoint;
    private readonly string _ackPrefix;
    private readonly long _maxFrameBytes;
    private readonly Signal _signal = new();
    private readonly Dictionary<string, string> _subjects = new(StringComparer.Ordinal);
    private readonly DateTimeOffset _startedAt;

    // Guarded by _state.Gate.
    private readonly PendingBuffer _buffer;
    private long _lagDrops;
    private long _tooLarge;
    private bool _readerDone;
    private bool _keySelectorFaultLogged;

    private long _lifecycleVersion;

    public RelaySession(
        NatsConnection nats,
        INatsKVStore kv,
        NatsRelayOptions options,
        NatsFeedLayout layout,
        RelayInput input,
        Func<Frame, string?>? keySelector,
        long generation,
        Continuation continuation,
        RelayState state,
        TimeProvider time,
        ILogger logger,
        string relayId,
        string? endpoint)
    {
        _nats = nats;
        _kv = kv;
        _options = options;
        _layout = layout;
        _input = input;
        _keySelector = keySelector;
        _generation = generation;
        _continuation = continuation;
        _state = state;
        _time = time;
        _logger = logger;
        _relayId = relayId;
        _endpoint = endpoint;
        _ackPrefix = "_TRANSPORT_ACK." + Guid.NewGuid().ToString("N");
        _maxFrameBytes = Math.Max(1, (nats.ServerInfo?.MaxPayload ?? 1024 * 1024) - HeaderAllowance);
        _buffer = new PendingBuffer(options.BufferFrames, options.BufferBytes, continuation.LastSequence);
        _startedAt = time.GetUtcNow();
        lock (_state.Gate)
        {
            _state.Buffer = _buffer;
            _state.LastAcknowledgedSequence = Math.Max(_state.LastAcknowledgedSequence, continuation.LastSequence);
        }
    }

    /// <summary>The input's terminal error, when it ended unrecoverable.</summary>
    public Exception? InputError { get; private set; }

    /// <summary>
    /// Runs until <paramref name="fence"/> (stop at once: Relay.R7), <paramref name="stop"/> (close the input,
    /// publish what was read within AckTimeout) or the input's end.
    /// </summary>
    public async Task<SessionEnd> RunAsync(CancellationToken fence, CancellationToken stop)
    {
        using var session = CancellationTokenSource.CreateLinkedTokenSource(fence);
        var lifecycle = Task.Run(() => LifecycleLoopAsync(session.Token), CancellationToken.None);
        var publisher = Task.Run(() => PublishLoopAsync(session.Token), CancellationToken.None);
        var reader = Task.Run(() => ReadLoopAsync(session.Token), CancellationToken.None);

        bool stopped = false;
        using (stop.Register(() => _ = CloseInputAsync()))
        {
            try
            {
                await reader.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (fence.IsCancellationRequested)
            {
            }

            stopped = stop.IsCancellationRequested;
        }

        SessionEnd end;
        if (fence.IsCancellationRequested)
        {
            end = SessionEnd.Fenced;
        }
        else
        {
            // Drain: what was read goes out, bounded by AckTimeout (then the rest is counted lost with the session).
            var drained = await Task.WhenAny(publisher, Task.Delay(_options.AckTimeout, _time, fence)).ConfigureAwait(false) == publisher;
            if (!drained)
            {
                NatsLog.DrainIncomplete(_logger, _layout.Feed, Pending());
            }

            end = stopped ? SessionEnd.Stopped : SessionEnd.InputEnded;
            if (!fence.IsCancellationRequested)
            {
                // The input's last snapshot (Closed or Unrecoverable), so consumers learn the end.
                await WriteLifecycleAsync(null, CancellationToken.None).ConfigureAwait(false);
            }
        }

        await session.CancelAsync().ConfigureAwait(false);
        await Quietly(publisher).ConfigureAwait(false);
        await Quietly(lifecycle).ConfigureAwait(false);
        lock (_state.Gate)
        {
            _state.Buffer = null;
        }

        return end;
    }

    private async Task CloseInputAsync()
    {
        try
        {
            await _input.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            NatsLog.InputCloseFailed(_logger, _layout.Feed, ex.GetType().Name);
        }
    }

    private int Pending()
    {
        lock (_state.Gate)
        {
            return _buffer.Count;
        }
    }

    // Relay.R5: reads as fast as the input gives; never waits for the bus.
    private async Task ReadLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (_input.Source is { } source)
            {
                var batch = new Frame[256];
                while (true)
                {
                    int n = await source.ReadBatchAsync(batch, cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    Admit(batch.AsSpan(0, n));
                    Array.Clear(batch, 0, n);
                }
            }
            else if (_input.Frames is { } frames)
            {
                await foreach (var frame in frames.WithCancellation(cancellationToken).ConfigureAwait(false))
                {
                    Admit([frame]);
                }
            }
        }
        catch (TransportException ex)
        {
            InputError = ex;
            NatsLog.InputFailed(_logger, _layout.Feed, ex.Kind.ToString());
        }
        finally
        {
            lock (_state.Gate)
            {
                _readerDone = true;
            }

            _signal.Set();
        }
    }

    private void Admit(ReadOnlySpan<Frame> frames)
    {
        long now = _time.GetTimestamp();
        long wallMicros = _time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
        var ready = ArrayPool<(Frame Frame, string Subject, long ReceivedAt)>.Shared.Rent(frames.Length);
        int count = 0;
        int tooLarge = 0;
        try
        {
            foreach (var original in frames)
            {
                if (!original.IsData)
                {
                    continue;
                }

                var frame = original;
                if (frame.IsLeased)
                {
                    // The buffer may hold it for an outage: an owned copy, and the lease goes back now.
                    var copy = frame.Payload.ToArray();
                    var owned = frame.Kind == FrameKind.Binary ? Frame.Binary(copy) : Frame.Text(copy);
                    owned = owned.WithEpoch(frame.Epoch).WithReceivedAt(frame.ReceivedAt);
                    frame.Release();
                    frame = owned;
                }

                if (frame.Length > _maxFrameBytes)
                {
                    tooLarge++;
                    NatsLog.FrameTooLarge(_logger, _layout.Feed, frame.Length, _maxFrameBytes);
                    continue;
                }

                long receivedAt = frame.ReceivedAt == 0
                    ? wallMicros
                    : wallMicros - (long)_time.GetElapsedTime(frame.ReceivedAt, now).TotalMicroseconds;
                ready[count++] = (frame, SubjectFor(frame), receivedAt);
            }

            lock (_state.Gate)
            {
                _state.FramesRead += count + tooLarge;
                _state.TooLarge += tooLarge;
                _tooLarge += tooLarge;
                for (int i = 0; i < count; i++)
                {
                    long sequencedBefore = _buffer.DroppedSequenced;
                    int evicted = _buffer.Admit(ready[i].Frame, ready[i].Subject, now, ready[i].ReceivedAt);
                    if (evicted > 0)
                    {
                        long sequenced = _buffer.DroppedSequenced - sequencedBefore;
                        _state.Dropped += evicted;

                        // A dropped frame that never had a sequence is lost before the bus: the lag header says so.
                        // One that had a sequence shows as a gap in the sequence instead (never counted twice).
                        _lagDrops += evicted - sequenced;
                    }
                }
            }
        }
        finally
        {
            Array.Clear(ready, 0, count);
            ArrayPool<(Frame Frame, string Subject, long ReceivedAt)>.Shared.Return(ready);
        }

        _signal.Set();
    }

    private string SubjectFor(in Frame frame)
    {
        if (_keySelector is null)
        {
            return _layout.FrameSubject;
        }

        string? key;
        try
        {
            key = _keySelector(frame);
        }
        catch (Exception ex)
        {
            // User code never takes the relay down: the frame goes out under the feed's subject.
            if (!_keySelectorFaultLogged)
            {
                _keySelectorFaultLogged = true;
                NatsLog.KeySelectorFailed(_logger, _layout.Feed, ex.GetType().Name);
            }

            return _layout.FrameSubject;
        }

        if (string.IsNullOrEmpty(key))
        {
            return _layout.FrameSubject;
        }

        if (!_subjects.TryGetValue(key, out var subject))
        {
            subject = _layout.SubjectFor(key);
            if (_subjects.Count < 100_000)
            {
                _subjects[key] = subject;
            }
        }

        return subject;
    }

    // Publishes over a dedicated connection that never reconnects by itself (a PublishLink): when it fails,
    // it is thrown away with whatever NATS.Net still buffered, and a fresh one resends every unacknowledged
    // frame in order. A reconnecting client would flush its stale buffer first after a reconnect, storing
    // later frames before the resent earlier ones: the feed's order would break (seen in the restart test).
    private async Task PublishLoopAsync(CancellationToken cancellationToken)
    {
        var batch = new PendingBuffer.Entry[Math.Min(256, _options.MaxInFlight)];
        long ackTimeoutTicks = (long)(_options.AckTimeout.TotalSeconds * _time.TimestampFrequency);
        var idleWait = TimeSpan.FromTicks(Math.Min(_options.AckTimeout.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks));
        PublishLink? link = null;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (link is { IsDead: true })
                {
                    await DropLinkAsync(link, "the publish connection failed").ConfigureAwait(false);
                    link = null;
                    await Task.Delay(_options.RetryDelay, _time, cancellationToken).ConfigureAwait(false);
                }

                if (link is null)
                {
                    try
                    {
                        link = await PublishLink.OpenAsync(_options, _relayId, this, cancellationToken).ConfigureAwait(false);
                        Volatile.Write(ref _busUp, 1);
                    }
                    catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                    {
                        Volatile.Write(ref _busUp, 0);
                        lock (_state.Gate)
                        {
                            _state.LastError = $"cannot reach NATS ({ex.GetType().Name})";
                        }

                        await Task.Delay(_options.RetryDelay, _time, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                }

                long now = _time.GetTimestamp();
                int n;
                long upstreamLag = _input.Lifecycle?.Current.TotalLagged ?? 0;
                long lag;
                lock (_state.Gate)
                {
                    if (_refused)
                    {
                        // JetStream refused a publish (a limit, no stream): the same link is fine, retry after the pause.
                        _refused = false;
                        link.MarkDead();
                        continue;
                    }

                    if (_buffer.OldestInFlight is { } oldest && now - oldest.SentAt > ackTimeoutTicks)
                    {
                        // Relay.R3: not acknowledged in time: the link is presumed dead; a fresh one resends in order.
                        _state.LastError = $"no acknowledgement within {_options.AckTimeout.TotalSeconds:0.#} s";
                        NatsLog.AckTimeout(_logger, _layout.Feed, _buffer.InFlight);
                        link.MarkDead();
                        continue;
                    }

                    // Relay.R2: never more than MaxInFlight unacknowledged.
                    n = _buffer.TakeToSend(batch, _options.MaxInFlight - _buffer.InFlight, now);
                    if (n == 0 && _readerDone && _buffer.Count == 0)
                    {
                        return;
                    }

                    lag = _continuation.Lagged + upstreamLag + _lagDrops + _tooLarge;
                    for (int i = 0; i < n; i++)
                    {
                        if (batch[i].Sends > 1)
                        {
                            _state.Retries++;
                        }
                    }
                }

                if (n == 0)
                {
                    await _signal.WaitAsync(idleWait, _time, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                for (int i = 0; i < n && !link.IsDead; i++)
                {
                    ref readonly var entry = ref batch[i];
                    var headers = FrameHeaderValues.ToHeaders(
                        new FrameHeaderValues(
                            entry.Frame.Kind,
                            _continuation.BaseEpoch + Math.Max(0, entry.Frame.Epoch),
                            entry.ReceivedAtUnixMicros,
                            entry.Sequence,
                            lag,
                            _generation),
                        _layout.Feed);
                    try
                    {
                        await link.PublishAsync(entry.Subject, entry.Frame.Payload, headers, entry.Sequence, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                    {
                        lock (_state.Gate)
                        {
                            _state.LastError = $"publish failed ({ex.GetType().Name})";
                        }

                        NatsLog.PublishFailed(_logger, _layout.Feed, ex.GetType().Name);
                        link.MarkDead();
                    }
                }

                Array.Clear(batch, 0, n);
            }
        }
        finally
        {
            if (link is not null)
            {
                await link.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task DropLinkAsync(PublishLink link, string reason)
    {
        await link.DisposeAsync().ConfigureAwait(false);
        Volatile.Write(ref _busUp, 0);
        lock (_state.Gate)
        {
            int failed = _buffer.Fail();
            if (failed > 0)
            {
                _state.PublishFailures += failed;
            }

            _state.LastError ??= reason;
        }
    }

    /// <summary>True while the publish connection is up (the snapshot's BusConnected).</summary>
    public bool BusUp => Volatile.Read(ref _busUp) == 1;

    private int _busUp;

    // Guarded by _state.Gate: JetStream refused a publish; the publisher starts over on a fresh link.
    private bool _refused;

    /// <summary>An acknowledgement (or refusal) for the frame with <paramref name="sequence"/>.</summary>
    internal void OnAck(long sequence, in PubAck ack)
    {
        lock (_state.Gate)
        {
            if (ack.Success)
            {
                long before = _buffer.Acknowledged;
                _buffer.Acknowledge(sequence);
                _state.Acknowledged += _buffer.Acknowledged - before;
                _state.LastAcknowledgedSequence = Math.Max(_state.LastAcknowledgedSequence, _buffer.LastAcknowledgedSequence);
            }
            else
            {
                _state.LastError = "JetStream refused a publish: " + ack.Error;
                _refused = true;
            }
        }

        if (!ack.Success)
        {
            NatsLog.PublishRefused(_logger, _layout.Feed, ack.Error ?? "refused");
        }

        _signal.Set();
    }

    /// <summary>The publish connection died.</summary>
    internal void OnLinkLost() => _signal.Set();

    private async Task LifecycleLoopAsync(CancellationToken cancellationToken)
    {
        LifecycleRecord? written = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            var snapshot = _input.Lifecycle?.Current;
            written = await WriteLifecycleAsync(written, cancellationToken).ConfigureAwait(false);
            try
            {
                if (_input.Lifecycle is { } lifecycle && snapshot is { IsTerminal: false })
                {
                    using var tick = new CancellationTokenSource(_options.LifecycleInterval, _time);
                    using var linked = CancellationTokenSource.CreateLinkedTokenSource(tick.Token, cancellationToken);
                    long version = snapshot.Version;
                    await lifecycle.WaitAsync(s => s.Version > version || s.IsTerminal, linked.Token).ConfigureAwait(false);
                }
                else
                {
                    await Task.Delay(_options.LifecycleInterval, _time, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The tick: re-publish the counts if they changed.
            }
            catch (TransportException)
            {
                // The channel completed; its last snapshot is Current.
                await Task.Delay(_options.LifecycleInterval, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Writes the lifecycle key when the composed record differs from <paramref name="written"/>.</summary>
    private async Task<LifecycleRecord?> WriteLifecycleAsync(LifecycleRecord? written, CancellationToken cancellationToken)
    {
        var record = Compose();
        if (record.SameStateAs(written))
        {
            return written;
        }

        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bound.CancelAfter(_options.Nats.RequestTimeout);
            await _kv.PutAsync(_layout.LifecycleKey, FeedJsonContext.Serialize(record with { Version = ++_lifecycleVersion }), Raw, bound.Token).ConfigureAwait(false);
            return record;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && NatsBus.IsTransient(ex))
        {
            // The bus is down: the level is written again at the next tick (last value wins, nothing to replay).
            return written;
        }
    }

    private LifecycleRecord Compose()
    {
        var now = _time.GetUtcNow();
        var s = _input.Lifecycle?.Current
            ?? (_readerDone
                ? new LifecycleSnapshot(ConnectionPhase.Closed, 0, 0, now, 0, 0, false, InputError as TransportException)
                : new LifecycleSnapshot(ConnectionPhase.Connected, 0, 0, null, 1, 0, false, null) { UpSince = _startedAt });
        long lag;
        long lastSequence;
        lock (_state.Gate)
        {
            lag = _continuation.Lagged + s.TotalLagged + _lagDrops + _tooLarge;
            lastSequence = Math.Max(_continuation.LastSequence, _buffer.LastAcknowledgedSequence);
        }

        // A takeover is an ordinary reconnect for consumers: the first session of the new relay is a
        // Reconnecting -> Resumed cycle on the next epoch, down since the old relay was last seen alive.
        var phase = s.Phase;
        var downSince = s.DownSince;
        TimeSpan? lastOutage = s.LastOutage;
        if (_continuation.IsTakeover && s.Epoch == 0)
        {
            phase = phase switch
            {
                ConnectionPhase.Connecting => ConnectionPhase.Reconnecting,
                ConnectionPhase.Connected => ConnectionPhase.Resumed,
                _ => phase,
            };
            if (_continuation.DownSinceHint is { } hint)
            {
                if (!s.IsUp && (downSince is null || hint < downSince))
                {
                    downSince = hint;
                }

                if (s.IsUp && s.UpSince is { } up && lastOutage is null)
                {
                    lastOutage = up - hint;
                }
            }
        }

        return new LifecycleRecord(
            phase,
            _continuation.BaseEpoch + s.Epoch,
            0,
            downSince,
            _continuation.Attempts + s.Attempts,
            lag,
            s.Exhausted,
            s.UpSince,
            lastOutage?.TotalMilliseconds,
            ErrorRecord.From(s.LastError),
            _generation,
            _relayId,
            _endpoint,
            now)
        {
            LastSequence = lastSequence,
        };
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
