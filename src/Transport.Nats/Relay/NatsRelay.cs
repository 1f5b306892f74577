using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Transport.Nats.Failover;
using Transport.Nats.Relay;

namespace Transport.Nats;

/// <summary>
/// Publishes one feed to NATS JetStream: the frames of a reconnecting connection (or a pool) to the feed's
/// stream, with epoch, receive time, relay sequence and cumulative lag in headers, and its lifecycle to the
/// feed's KV key. Any number of relays may run for one feed: the one holding the lease is active (it opens
/// the venue connection through the factory and publishes); the others stand by and take over when it dies
/// or stalls. See docs/adr/0017-nats-relay.md.
/// </summary>
/// <remarks>
/// <para>
/// Start: <see cref="RunAsync"/> connects to NATS, checks the server (nats-server 2.9 or later with JetStream:
/// a <see cref="TransportException"/> of kind Configuration otherwise), creates the stream and the bucket
/// when absent, then alternates standby and active until cancelled. The venue connection exists only while
/// active: <c>openInput</c> is called when the lease is acquired and the input disposed when it is lost.
/// </para>
/// <para>
/// Bus outages are bounded: frames wait in a buffer of <see cref="NatsRelayOptions.BufferFrames"/> and
/// <see cref="NatsRelayOptions.BufferBytes"/>; beyond it the oldest waiting frame is dropped and counted
/// (<see cref="RelaySnapshot.Dropped"/> and the lag header). The source is always drained.
/// </para>
/// <para>
/// The relay's <see cref="TimeProvider"/> must be the input's (frames' receive times are converted to wall
/// time with it).
/// </para>
/// </remarks>
public sealed class NatsRelay : IAsyncDisposable
{
    private readonly NatsRelayOptions _options;
    private readonly Func<CancellationToken, ValueTask<RelayInput>> _openInput;
    private readonly Func<Frame, string?>? _keySelector;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly NatsFeedLayout _layout;
    private readonly string _relayId;
    private readonly string? _endpoint;
    private readonly RelayState _state = new();
    private readonly CancellationTokenSource _disposed = new();
    private readonly Lock _changeGate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private NatsConnection? _nats;
    private RelaySession? _session;
    private Task? _running;

    /// <summary>Creates a relay (nothing connects until <see cref="RunAsync"/>).</summary>
    /// <param name="options">The relay's settings (validated here).</param>
    /// <param name="openInput">Opens the venue connection when this relay becomes active (for example
    /// <c>async ct =&gt; RelayInput.FromConnection(await connector.ConnectAsync(ct))</c>).</param>
    /// <param name="keySelector">
    /// Names the key of a frame (a topic, a symbol) for its subject <c>{prefix}.{feed}.frames.{key}</c>; null: no keys.
    /// User code: it runs on the relay's read path and must be fast; if it throws, the frame goes out under the feed's subject.
    /// </param>
    /// <param name="loggerFactory">Where the relay and NATS.Net log.</param>
    /// <param name="timeProvider">The clock (the input's).</param>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public NatsRelay(
        NatsRelayOptions options,
        Func<CancellationToken, ValueTask<RelayInput>> openInput,
        Func<Frame, string?>? keySelector = null,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(openInput);
        options.Validate();
        _options = options;
        _openInput = openInput;
        _keySelector = keySelector;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger("Transport.Nats.Relay");
        _time = timeProvider ?? TimeProvider.System;
        _layout = options.Layout();
        _relayId = options.EffectiveRelayId;
        _endpoint = options.VenueEndpoint is null
            ? null
            : Uri.TryCreate(options.VenueEndpoint, UriKind.Absolute, out var uri) ? Redaction.RedactUri(uri) : Redaction.Mask;
    }

    /// <summary>The feed's place on NATS.</summary>
    public NatsFeedLayout Layout => _layout;

    /// <summary>The relay's state now.</summary>
    public RelaySnapshot Current => _state.Snapshot(
        _layout.Feed,
        _relayId,
        _nats?.ConnectionState == NatsConnectionState.Open && (Volatile.Read(ref _session)?.BusUp ?? true),
        _time);

    /// <summary>Waits until <paramref name="predicate"/> holds for <see cref="Current"/> (checked at every role change and every 100 ms).</summary>
    /// <param name="predicate">The condition.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The snapshot that satisfied it.</returns>
    public async ValueTask<RelaySnapshot> WaitAsync(Func<RelaySnapshot, bool> predicate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        while (true)
        {
            Task changed;
            lock (_changeGate)
            {
                changed = _changed.Task;
            }

            var now = Current;
            if (predicate(now))
            {
                return now;
            }

            await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// Runs the relay until <paramref name="cancellationToken"/> is cancelled (then it closes the input,
    /// publishes what it read, writes the final lifecycle and releases the lease) or the input ends by itself.
    /// </summary>
    /// <param name="cancellationToken">Stops the relay gracefully.</param>
    /// <returns>Completes when stopped.</returns>
    /// <exception cref="TransportException">
    /// NATS could not be reached at start (kind Connection), the server is unsuitable or the stream is
    /// someone else's (kind Configuration), or the input ended unrecoverable (its error).
    /// </exception>
    /// <exception cref="InvalidOperationException">The relay is already running.</exception>
    public Task RunAsync(CancellationToken cancellationToken = default)
    {
        lock (_changeGate)
        {
            if (_running is not null)
            {
                throw new InvalidOperationException("The relay is already running.");
            }

            _running = RunCoreAsync(cancellationToken);
            return _running;
        }
    }

    /// <summary>Stops the relay (as cancelling <see cref="RunAsync"/> does) and waits for it.</summary>
    /// <returns>Completes when stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        _disposed.Cancel();
        Task? running;
        lock (_changeGate)
        {
            running = _running;
        }

        if (running is not null)
        {
            try
            {
                await running.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or TransportException)
            {
            }
        }

        _disposed.Dispose();
    }

    /// <inheritdoc />
    public override string ToString() => Current.ToString();

    private async Task RunCoreAsync(CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        NatsTelemetry.Register(this);
        try
        {
            await using var nats = await NatsBus.ConnectAsync(_options.Nats, "transport-relay-" + _relayId, _loggerFactory, stop.Token).ConfigureAwait(false);
            _nats = nats;
            NatsLog.RelayStarted(_logger, _relayId, _layout.Feed, _options.Nats.RedactedUrl, nats.ServerInfo?.Version ?? "?");
            var js = new NatsJSContext(nats);
            var stream = await NatsBus.EnsureStreamAsync(js, _layout, _options.Stream, _time, stop.Token).ConfigureAwait(false);
            var kv = await NatsBus.EnsureBucketAsync(new NatsKVContext(js), _layout.Bucket, _time, stop.Token).ConfigureAwait(false);
            var keeper = new LeaseKeeper(kv, _layout.LeaseKey, _options.Lease, _relayId, _endpoint, _time, _logger);
            await ServeAsync(nats, stream, kv, keeper, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped while standing by or starting.
        }
        finally
        {
            SetRole(RelayRole.Stopped);
            NatsTelemetry.Unregister(this);
            _nats = null;
        }
    }

    private async Task ServeAsync(NatsConnection nats, INatsJSStream stream, INatsKVStore kv, LeaseKeeper keeper, CancellationToken stop)
    {
        while (true)
        {
            SetRole(RelayRole.Standby);
            var grant = await keeper.AcquireAsync(stop).ConfigureAwait(false);
            // The lease is held (renewed) until the session is over, a graceful stop's drain included;
            // only a loss (expired, taken over) fences: the session then stops at once (Relay.R7).
            using var holding = new CancellationTokenSource();
            var hold = keeper.HoldAsync(grant, holding.Token);
            using var fence = new CancellationTokenSource();
            _ = hold.ContinueWith(
                t =>
                {
                    if (t.Status == TaskStatus.RanToCompletion)
                    {
                        try
                        {
                            fence.Cancel();
                        }
                        catch (ObjectDisposedException)
                        {
                        }
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            using var preparing = CancellationTokenSource.CreateLinkedTokenSource(fence.Token, stop);

            Continuation continuation;
            RelayInput input;
            try
            {
                continuation = await Continuation.ReadAsync(stream, kv, _layout, grant.Previous?.RenewedAt, preparing.Token).ConfigureAwait(false);
                lock (_state.Gate)
                {
                    _state.Generation = grant.Generation;
                    _state.Takeovers++;
                }

                // The venue connection opens only now, under the lease.
                input = await _openInput(preparing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (fence.IsCancellationRequested && !stop.IsCancellationRequested)
            {
                SetRole(RelayRole.Fenced);
                await Quietly(hold).ConfigureAwait(false);
                continue;
            }
            catch (Exception ex) when (!stop.IsCancellationRequested && NatsBus.IsTransient(ex))
            {
                // The bus failed while preparing: give the lease back and start over.
                await holding.CancelAsync().ConfigureAwait(false);
                await Quietly(hold).ConfigureAwait(false);
                await keeper.ReleaseAsync(grant.Generation, CancellationToken.None).ConfigureAwait(false);
                continue;
            }
            catch
            {
                await holding.CancelAsync().ConfigureAwait(false);
                await Quietly(hold).ConfigureAwait(false);
                await keeper.ReleaseAsync(grant.Generation, CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            SetRole(RelayRole.Active);
            NatsLog.RelayActive(_logger, _relayId, _layout.Feed, grant.Generation, continuation.LastSequence, continuation.BaseEpoch);
            var session = new RelaySession(nats, kv, _options, _layout, input, _keySelector, grant.Generation, continuation, _state, _time, _logger, _relayId, _endpoint);
            Volatile.Write(ref _session, session);
            var end = await session.RunAsync(fence.Token, stop).ConfigureAwait(false);
            Volatile.Write(ref _session, null);
            if (end == SessionEnd.Fenced)
            {
                SetRole(RelayRole.Fenced);
                var loss = await hold.ConfigureAwait(false);
                var started = _time.GetTimestamp();
                var closed = input.DisposeAsync().AsTask();
                if (await Task.WhenAny(closed, Task.Delay(_options.Lease.CloseMargin, _time, CancellationToken.None)).ConfigureAwait(false) != closed)
                {
                    NatsLog.CloseSlow(_logger, _layout.Feed, _options.Lease.CloseMargin);
                }

                await Quietly(closed).ConfigureAwait(false);
                lock (_state.Gate)
                {
                    _state.LastError = loss == LeaseLoss.TakenOver ? "lease taken over by another relay" : "lease expired (renewals failed)";
                }

                NatsLog.RelayFenced(_logger, _relayId, _layout.Feed, loss.ToString(), _time.GetElapsedTime(started));
                if (stop.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            // Stopped, or the input ended: give the lease back so a standby takes over at once.
            await holding.CancelAsync().ConfigureAwait(false);
            await Quietly(hold).ConfigureAwait(false);
            await input.DisposeAsync().ConfigureAwait(false);
            await keeper.ReleaseAsync(grant.Generation, CancellationToken.None).ConfigureAwait(false);
            if (session.InputError is { } error)
            {
                lock (_state.Gate)
                {
                    _state.LastError = $"input ended: {error.GetType().Name}";
                }

                throw error;
            }

            return;
        }
    }

    private void SetRole(RelayRole role)
    {
        TaskCompletionSource changed;
        lock (_state.Gate)
        {
            _state.Role = role;
        }

        lock (_changeGate)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException || NatsBus.IsTransient(ex))
        {
        }
    }
}
