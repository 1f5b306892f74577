using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Connection;
using Transport.WebSockets.Lifecycle;
using Transport.WebSockets.Spawning;

namespace Transport.WebSockets.Legs;

// Invariants (each proven by a test carrying [Trait("Invariant", "<id>")] in tests/Transport.Tests/Legs/):
//
// Legs.L1: One gate: every leg is a connection of the one connector, so the attempts of all legs together stay
//          within Reconnect.MaxAttemptsPerWindow (Gate.G1); legs failing together do not multiply the attempt rate.
// Legs.L2: Each leg has its own endpoint, auth stamp and session initializer (after the connector's own), run on
//          every new socket of that leg only.
// Legs.L3: The merged source delivers every keyed frame once, whichever legs carry it and in whatever order their
//          copies arrive (Legs.R1), in arrival order per leg; a leg dying while the others run loses nothing
//          that another leg carried.
// Legs.L4: Lease mode: every leased frame the arbiter drops (a duplicate, an unkeyed frame of a non-primary leg) is
//          released exactly once, by the arbiter, right after the decision; frames delivered are the consumer's,
//          and frames the merged source evicts or receives after it ended are released by it (Ring.I12).
// Legs.L5: A merged frame carries the aggregate's epoch at the moment it was arbitrated, and before a frame of a
//          leg's newer socket is delivered, that leg's newest lifecycle snapshot is applied to the aggregate (so
//          the aggregate lifecycle is never behind the frames it releases by more than the leg's own is).
// Legs.L6: ForceReconnect on the aggregate reconnects the legs one at a time, make-before-break: a leg is
//          reconnected only while another leg is up (or no other leg can come back), and the next one only once
//          it is up again on a newer epoch.
// Legs.L7: Shutdown shuts every leg down; the merged source ends after the last leg's frames, the aggregate
//          lifecycle publishes Closed and completes.

/// <summary>
/// One logical connection over several sockets ("legs") to the same feed: every leg connects, logs in and
/// subscribes on its own, and one merged source delivers each keyed frame once (first arrival wins). The feed is
/// up while any leg is up; a lost leg costs no gap while another carries the feed.
/// </summary>
/// <remarks>
/// <para>
/// Start it from the adapter's <see cref="ReconnectingConnector"/>: every leg is a connection of that connector
/// (named <c>{Name}.{leg}</c>) with its options, classifier and limits, its session initializer followed by the
/// leg's own, and its connect-attempt gate, shared by all legs. A leg may have its own endpoint and auth source.
/// </para>
/// <para>
/// Frames: the <see cref="RedundantConnectionOptions.KeySelector"/> names each frame's venue message (topic +
/// the venue's sequence); of the copies of one key, the first to reach the arbiter is delivered and the others
/// are dropped (released in lease mode) and counted per leg. The keys remembered are bounded by
/// <see cref="RedundantConnectionOptions.Dedupe"/> (count and age). Frames without a key come from the primary
/// leg only (<see cref="UnkeyedFramePolicy"/>).
/// </para>
/// <para>
/// Use it like a connection: <see cref="Connection"/> is a <see cref="ReconnectingConnection"/> over the merged
/// source, the aggregate lifecycle, the failover sink and the aggregate control, so an adapter written for one
/// connection runs over redundant legs unchanged. <see cref="Current"/> adds every leg's state.
/// </para>
/// </remarks>
public sealed class RedundantConnection : IAsyncDisposable
{
    private const int BatchFrames = 64;

    private readonly RedundantConnectionOptions _options;
    private readonly TimeProvider _time;
    private readonly ISpawner _spawner;
    private readonly ILogger _logger;
    private readonly LegsMetrics _metrics;
    private readonly RedundantLeg[] _legs;
    private readonly DropOldestRing _merged;
    private readonly LifecyclePublisher _publisher;
    private readonly RedundantSink _sink;
    private readonly IConnectionControl _control;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _pumps;

    // Guards the aggregation, the arbiter, the order of writes into the merged source and of publishes.
    // Nothing foreign runs under it: no user code but the key selector (documented as such), no awaits.
    private readonly Lock _gate = new();
    private readonly LegAggregation _aggregation;
    private readonly LegArbiter _arbiter;
    private string? _lastPhaseLogged;

    private int _pumpsRunning;
    private int _rolling;
    private int _rollAgain;
    private Task? _shutdown;

    /// <summary>Starts every leg now (each in Connecting) and returns at once.</summary>
    /// <param name="options">The legs and the merge rules.</param>
    /// <param name="connector">
    /// Starts every leg: one connector, so one connect-attempt gate for all of them. Its options, classifier,
    /// spawner, clock, logging and Meter are the legs' and the aggregate's.
    /// </param>
    /// <exception cref="ArgumentException">An option is invalid; the message names the field.</exception>
    public RedundantConnection(RedundantConnectionOptions options, ReconnectingConnector connector)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(connector);
        var root = connector.Services;
        options.Validate(root.Options);
        _options = options;
        _time = root.Time;
        _spawner = root.Spawner;
        _logger = root.Loggers.CreateLogger("Transport.WebSockets.Legs");
        _metrics = LegsMetrics.For(root.Telemetry.Meter);
        var start = _time.GetUtcNow();
        _aggregation = new LegAggregation(options.Legs.Count, start);
        _arbiter = new LegArbiter(options.Legs.Count, options.KeySelector, options.Dedupe, options.Unkeyed, _time.TimestampFrequency);
        _merged = new DropOldestRing(
            options.MergedCapacityFrames ?? root.Options.Receive.RingCapacityFrames,
            options.MergedCapacityBytes ?? root.Options.Receive.RingCapacityBytes);
        Source = new FrameSource(_merged);
        _publisher = new LifecyclePublisher(_spawner, _logger);
        _publisher.Publish(_ => _aggregation.Current);
        _sink = new RedundantSink(this);
        _control = GuardedConnectionControl.For(new AggregateControl(this), _spawner);
        Connection = new ReconnectingConnection(options.Name, _sink, Source, _publisher, _control, () => PrimaryLeg()?.Session);

        // Legs.L1, L2: every leg from the one connector.
        _legs = new RedundantLeg[options.Legs.Count];
        for (int i = 0; i < _legs.Length; i++)
        {
            var services = ServicesFor(root, options, i);
            _legs[i] = new RedundantLeg(this, i, options.LegName(i), connector.Connect(services));
        }

        _metrics.Register(this);
        _pumpsRunning = _legs.Length;
        _pumps = new Task[_legs.Length];
        for (int i = 0; i < _legs.Length; i++)
        {
            var leg = _legs[i];

            // A waiter sees every snapshot of the leg in version order, none skipped (ILifecycleChannel.WaitAsync),
            // off the leg's actor: the aggregate misses no down-edge of any leg (Legs.A1, A2).
            leg.Watch = leg.Connection.Lifecycle.WaitAsync(s => OnLegSnapshot(leg, s)).AsTask();
            _pumps[i] = _spawner.Spawn(() => PumpAsync(leg));
        }

        LegsLog.Started(_logger, options.Name, _legs.Length, options.KeySelector is not null);
    }

    /// <summary>The name.</summary>
    public string Name => _options.Name;

    /// <summary>
    /// The merged data frames: each keyed frame once, unkeyed frames by <see cref="RedundantConnectionOptions.Unkeyed"/>.
    /// Bounded (drop-oldest, counted in the aggregate's TotalLagged); single consumer. Each frame carries the
    /// aggregate's epoch (Legs.L5) and its receive time on its leg. Ends after every leg has ended; throws the
    /// terminal error when the aggregate became Unrecoverable.
    /// </summary>
    public IFrameSource Source { get; }

    /// <summary>
    /// The aggregate lifecycle: up (Connected, Stale, Resumed) while any leg is up, Reconnecting only when every
    /// leg is down; its epoch counts those all-down periods (the only moments the merged feed may have a gap),
    /// plus those found afterwards from the legs' levels (Legs.A3). Attempts and TotalLagged are summed over the legs.
    /// </summary>
    public ILifecycleChannel Lifecycle => _publisher;

    /// <summary>
    /// The send side: the primary leg (the first up leg in order), failing over to the next up leg when the
    /// primary's socket ends before a frame was written. See <see cref="SendToAllAsync"/> for every leg.
    /// </summary>
    public IFrameSink Sink => _sink;

    /// <summary>Shutdown (every leg) and a rolling, make-before-break reconnect of the legs (Legs.L6).</summary>
    public IConnectionControl Control => _control;

    /// <summary>
    /// The aggregate as a <see cref="ReconnectingConnection"/> (merged source, aggregate lifecycle, failover sink,
    /// aggregate control; the session is the primary leg's): hand it to code written for one connection.
    /// </summary>
    public ReconnectingConnection Connection { get; }

    /// <summary>The legs, in order (each with its own lifecycle, sink and control).</summary>
    public IReadOnlyList<RedundantLeg> Legs => _legs;

    /// <summary>Cumulative sends that moved to another leg because theirs went down before the write.</summary>
    public long SendFailovers => _sink.Failovers;

    /// <summary>The aggregate and every leg now.</summary>
    public RedundantSnapshot Current
    {
        get
        {
            lock (_gate)
            {
                var states = new LegState[_legs.Length];
                int primary = -1;
                for (int i = 0; i < _legs.Length; i++)
                {
                    var lifecycle = _legs[i].Connection.Lifecycle.Current;
                    primary = primary < 0 && lifecycle.IsUp ? i : primary;
                    var counts = _arbiter.CountsOf(i);
                    states[i] = new LegState(i, _legs[i].Name, lifecycle, false, counts.Wins, counts.Duplicates, counts.Unkeyed, counts.UnkeyedDropped, counts.Behind);
                }

                if (primary >= 0)
                {
                    states[primary] = states[primary] with { IsPrimary = true };
                }

                return new RedundantSnapshot(_publisher.Current, states, _arbiter.Delivered, _arbiter.Dropped, _arbiter.Window?.Count ?? 0, _arbiter.Window?.EvictedByCount ?? 0);
            }
        }
    }

    /// <summary>Every leg's list, for the sink.</summary>
    internal IReadOnlyList<RedundantLeg> LegList => _legs;

    /// <summary>
    /// Writes <paramref name="frame"/> on every leg that is up now, each pinned to its leg's epoch (a leg that is
    /// down gets nothing: its session initializer owns what a new socket needs, such as the subscriptions).
    /// </summary>
    /// <param name="frame">A text or binary frame.</param>
    /// <param name="options">Lane and delivery; a pinned epoch names the aggregate's epoch (StaleEpoch once it ended).</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>How many legs wrote the frame: 0 when no leg was up, or every one went down before its write.</returns>
    /// <exception cref="TransportException">StaleEpoch (the pinned aggregate epoch ended) or Shutdown.</exception>
    public ValueTask<int> SendToAllAsync(Frame frame, SendOptions options = default, CancellationToken cancellationToken = default) =>
        _sink.SendToAllAsync(frame, options, cancellationToken);

    /// <summary>Queues <paramref name="frame"/> on every leg up now, pinned to its epoch, without waiting.</summary>
    /// <param name="frame">A text or binary frame.</param>
    /// <param name="options">Lane and delivery; a pinned epoch names the aggregate's epoch.</param>
    /// <returns>How many legs accepted it.</returns>
    public int TrySendToAll(Frame frame, SendOptions options = default) => _sink.TrySendToAll(frame, options);

    /// <summary>Shuts every leg down (see <see cref="IConnectionControl.ShutdownAsync"/>).</summary>
    /// <returns>Completes when every leg has stopped and the aggregate lifecycle has completed.</returns>
    public ValueTask DisposeAsync() => new(_control.ShutdownAsync());

    /// <inheritdoc />
    public override string ToString() => Current.ToString();

    internal int LegsUpNow() => _legs.Count(l => l.Connection.Lifecycle.Current.IsUp);

    internal int WindowKeysNow()
    {
        lock (_gate)
        {
            return _arbiter.Window?.Count ?? 0;
        }
    }

    /// <summary>The first leg up now (by its own lifecycle) and its epoch; null when none is.</summary>
    internal (RedundantLeg Leg, long Epoch)? ChooseLeg()
    {
        foreach (var leg in _legs)
        {
            var s = leg.Connection.Lifecycle.Current;
            if (s.IsUp)
            {
                return (leg, s.Epoch);
            }
        }

        return null;
    }

    internal List<(RedundantLeg Leg, long Epoch)> UpLegs()
    {
        var up = new List<(RedundantLeg, long)>(_legs.Length);
        foreach (var leg in _legs)
        {
            var s = leg.Connection.Lifecycle.Current;
            if (s.IsUp)
            {
                up.Add((leg, s.Epoch));
            }
        }

        return up;
    }

    /// <summary>Waits until some leg is up (true) or every leg has ended (false).</summary>
    internal async Task<bool> WaitForAnyLegUpAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (ChooseLeg() is not null)
            {
                return true;
            }

            if (_legs.All(l => l.Connection.Lifecycle.Current.IsTerminal))
            {
                return false;
            }

            using var any = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var waits = new Task[_legs.Length];
            for (int i = 0; i < _legs.Length; i++)
            {
                waits[i] = _legs[i].Connection.Lifecycle.WaitAsync(static s => s.IsUp || s.IsTerminal, any.Token).AsTask();
            }

            // No ConfigureAwait(false): a caller on a pumped scheduler keeps its continuation there (ADR 0003).
            await WhenAnyHere(waits);

            // Cancel, not CancelAsync: the other waits end here, on this scheduler (CancelAsync would run
            // them on the thread pool, out of a pumped test's reach).
            any.Cancel();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private RedundantLeg? PrimaryLeg() => ChooseLeg()?.Leg ?? _legs[0];

    // Legs.L2: the connector's services with this leg's endpoint, auth and initializer; the gate stays shared (L1).
    private static ConnectionServices ServicesFor(ConnectionServices root, RedundantConnectionOptions options, int index)
    {
        var leg = options.Legs[index];
        var legOptions = root.Options.Clone();
        legOptions.Name = $"{options.Name}.{options.LegName(index)}";
        var endpoints = root.Endpoints;
        if (leg.Uri is { } uri)
        {
            legOptions.Uri = uri;
            legOptions.FailoverUris = [.. leg.FailoverUris ?? []];
            endpoints = null;
        }

        if (leg.Endpoints is { } provider)
        {
            endpoints = provider;
        }

        var initializer = (root.Initializer, leg.Initializer) switch
        {
            ({ } own, { } then) => SessionInitializers.Sequence(own, then),
            ({ } own, null) => own,
            (null, var then) => then,
        };
        return root with { Options = legOptions, Auth = leg.Auth ?? root.Auth, Endpoints = endpoints, Initializer = initializer };
    }

    // A leg's snapshot, in version order (the waiter's pass, off the leg's actor). Returns true at the terminal
    // one, which ends the wait. Never throws: a throw would end the wait and the aggregate would stop seeing the leg.
    private bool OnLegSnapshot(RedundantLeg leg, LifecycleSnapshot snapshot)
    {
        try
        {
            lock (_gate)
            {
                bool wasUp = _aggregation.IsUp(leg.Index);
                if (_aggregation.Apply(leg.Index, snapshot, _time.GetUtcNow()))
                {
                    PublishLocked();
                }

                if (wasUp && !snapshot.IsUp && !snapshot.IsTerminal)
                {
                    LegsLog.LegDown(_logger, _options.Name, leg.Name, _aggregation.UpCount, _legs.Length, snapshot.LastError?.Kind.ToString() ?? "none");
                }
            }
        }
        catch (Exception ex)
        {
            LegsLog.Faulted(_logger, _options.Name, "lifecycle", ex.GetType().Name);
        }

        return snapshot.IsTerminal;
    }

    // Caller holds _gate. Publishing stores and schedules (no observer or predicate runs here: Lifecycle.I1, I4).
    private void PublishLocked()
    {
        var published = _publisher.Publish(_ => _aggregation.Current);
        string phase = $"{published.Phase}/{published.Epoch}";
        if (phase != _lastPhaseLogged)
        {
            _lastPhaseLogged = phase;
            LegsLog.Aggregate(_logger, _options.Name, published.Phase, published.Epoch, _aggregation.UpCount, _legs.Length);
        }
    }

    // Copies one leg's frames through the arbiter into the merged source. Ends when the leg's source ends
    // (its shutdown, or Unrecoverable). Runs on the spawner; no ConfigureAwait(false) (ADR 0003).
    private async Task PumpAsync(RedundantLeg leg)
    {
        var source = leg.Connection.Source;
        var batch = new Frame[BatchFrames];
        var deliver = new Frame[BatchFrames];
        var drop = new Frame[BatchFrames];
        try
        {
            while (await source.WaitToReadAsync())
            {
                int taken;
                while ((taken = source.TryReadBatch(batch)) > 0)
                {
                    Offer(leg, batch.AsSpan(0, taken), deliver, drop);
                    batch.AsSpan(0, taken).Clear();
                }
            }
        }
        catch (TransportException)
        {
            // The leg became Unrecoverable: its lifecycle says so; the others carry on.
        }
        catch (Exception ex)
        {
            LegsLog.Faulted(_logger, _options.Name, leg.Name, ex.GetType().Name);
        }
        finally
        {
            if (Interlocked.Decrement(ref _pumpsRunning) == 0)
            {
                // Legs.L7: every leg's source has ended. Unrecoverable unless shut down, like one connection.
                var failed = _shutdown is null ? _legs.Select(l => l.Connection.Lifecycle.Current).LastOrDefault(s => s.Phase == ConnectionPhase.Unrecoverable) : null;
                _merged.Complete(failed is null ? null : failed.LastError ?? TransportException.Shutdown("Every leg became unrecoverable."));
            }
        }
    }

    private void Offer(RedundantLeg leg, ReadOnlySpan<Frame> frames, Frame[] deliver, Frame[] drop)
    {
        long now = _time.GetTimestamp();
        int delivered = 0, dropped = 0, won = 0, duplicates = 0, notPrimary = 0;
        double? behind;
        string? selectorFault;
        lock (_gate)
        {
            // Legs.L5: frames of a newer socket than the aggregate knows: apply the leg's newest snapshot first.
            var applied = _aggregation.Leg(leg.Index);
            if (!applied.IsUp || frames[^1].Epoch > applied.Epoch)
            {
                if (_aggregation.Apply(leg.Index, leg.Connection.Lifecycle.Current, _time.GetUtcNow()))
                {
                    PublishLocked();
                }
            }

            int primary = _aggregation.Primary;
            long epoch = _aggregation.Current.Epoch;
            foreach (ref readonly var frame in frames)
            {
                switch (_arbiter.Offer(leg.Index, frame, now, primary))
                {
                    case LegVerdict.Won:
                        won++;
                        deliver[delivered++] = frame.WithEpoch(epoch);
                        break;
                    case LegVerdict.DeliveredUnkeyed:
                        deliver[delivered++] = frame.WithEpoch(epoch);
                        break;
                    case LegVerdict.Duplicate:
                        duplicates++;
                        drop[dropped++] = frame;
                        break;
                    default:
                        notPrimary++;
                        drop[dropped++] = frame;
                        break;
                }
            }

            if (delivered > 0)
            {
                // Under the gate: the merged order is the arbitration order. The ring wakes its consumer
                // without running it here (Ring.I8).
                int evicted = _merged.WriteBatch(deliver.AsSpan(0, delivered));
                if (evicted > 0 && _aggregation.AddMergedLagged(evicted, _time.GetUtcNow()))
                {
                    PublishLocked();
                }
            }

            behind = _arbiter.TakeBatchBehind(leg.Index);
            selectorFault = _arbiter.TakeFirstSelectorFault(leg.Index);
        }

        // Legs.L4: the arbiter's drops are released here, exactly once each.
        for (int i = 0; i < dropped; i++)
        {
            drop[i].Release();
        }

        deliver.AsSpan(0, delivered).Clear();
        drop.AsSpan(0, dropped).Clear();
        if (selectorFault is not null)
        {
            LegsLog.SelectorFaulted(_logger, _options.Name, leg.Name, selectorFault);
        }

        var tags = leg.Tags;
        if (won > 0)
        {
            _metrics.Won.Add(won, tags);
        }

        if (duplicates > 0)
        {
            _metrics.Duplicate.Add(duplicates, tags);
        }

        if (notPrimary > 0)
        {
            _metrics.UnkeyedDropped.Add(notPrimary, tags);
        }

        if (behind is { } seconds)
        {
            _metrics.Behind.Record(seconds, tags);
        }
    }

    // Legs.L6: one leg at a time, each only while another is up, the next once it is back.
    private void RequestRoll(string reason)
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        Volatile.Write(ref _rollAgain, 1);
        if (Interlocked.CompareExchange(ref _rolling, 1, 0) == 0)
        {
            _ = _spawner.Spawn(() => RollAsync(reason));
        }
    }

    private async Task RollAsync(string reason)
    {
        var stop = _stop.Token;
        try
        {
            while (Interlocked.Exchange(ref _rollAgain, 0) == 1 && !stop.IsCancellationRequested)
            {
                foreach (var leg in _legs)
                {
                    var now = leg.Connection.Lifecycle.Current;
                    if (!now.IsUp)
                    {
                        continue; // down or ended: its next socket is a fresh one anyway
                    }

                    if (_legs.Length > 1)
                    {
                        // Make before break: another leg carries the feed first (unless none can come back).
                        await WaitForAnotherLegAsync(leg, stop);
                        now = leg.Connection.Lifecycle.Current;
                        if (!now.IsUp)
                        {
                            continue;
                        }
                    }

                    long epoch = now.Epoch;
                    LegsLog.Rolling(_logger, _options.Name, leg.Name, epoch);
                    leg.Connection.Control.ReconnectTrigger.ForceReconnect(reason);
                    await leg.Connection.Lifecycle.WaitAsync(s => s.IsTerminal || (s.IsUp && s.Epoch > epoch), stop);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Shut down meanwhile.
        }
        catch (Exception ex)
        {
            LegsLog.Faulted(_logger, _options.Name, "reconnect", ex.GetType().Name);
        }
        finally
        {
            Volatile.Write(ref _rolling, 0);
        }

        // A request that arrived after the loop's last check starts another pass.
        if (Volatile.Read(ref _rollAgain) == 1 && !stop.IsCancellationRequested && Interlocked.CompareExchange(ref _rolling, 1, 0) == 0)
        {
            _ = _spawner.Spawn(() => RollAsync(reason));
        }
    }

    private async Task WaitForAnotherLegAsync(RedundantLeg leg, CancellationToken stop)
    {
        var others = _legs.Where(l => !ReferenceEquals(l, leg)).ToArray();
        while (!others.Any(o => o.Connection.Lifecycle.Current.IsUp) && !others.All(o => o.Connection.Lifecycle.Current.IsTerminal))
        {
            using var any = CancellationTokenSource.CreateLinkedTokenSource(stop);
            await WhenAnyHere([.. others.Select(o => o.Connection.Lifecycle.WaitAsync(static s => s.IsUp || s.IsTerminal, any.Token).AsTask())]);
            any.Cancel();
            stop.ThrowIfCancellationRequested();
        }
    }

    // Legs.L7.
    private Task ShutdownAsync(CancellationToken cancellationToken)
    {
        Task shutdown;
        lock (_gate)
        {
            if (_shutdown is null)
            {
                if (_aggregation.RequestShutdown(_time.GetUtcNow()))
                {
                    PublishLocked();
                }

                _shutdown = _spawner.Spawn(ShutdownCoreAsync);
            }

            shutdown = _shutdown;
        }

        return cancellationToken.CanBeCanceled ? shutdown.WaitAsync(cancellationToken) : shutdown;
    }

    private async Task ShutdownCoreAsync()
    {
        _stop.Cancel(); // synchronously, on the spawner (see WaitForAnyLegUpAsync)
        var legs = _legs.Select(l => l.Connection.Control.ShutdownAsync()).ToArray();

        // Each awaited in turn, not through Task.WhenAll: a task completed with RunContinuationsAsynchronously
        // completes WhenAll on the thread pool, out of a pumped test's reach; an await comes back here (ADR 0003).
        foreach (var leg in legs)
        {
            try
            {
                await leg;
            }
            catch (Exception ex)
            {
                LegsLog.Faulted(_logger, _options.Name, "shutdown", ex.GetType().Name);
            }
        }

        foreach (var pump in _pumps)
        {
            await pump;
        }

        foreach (var leg in _legs)
        {
            await (leg.Watch ?? Task.CompletedTask);
        }

        await _publisher.Completion;
        _metrics.Unregister(this);
    }

    // Completes when the first of `tasks` completes (whatever its outcome), on the awaiting caller's
    // scheduler: Task.WhenAny completes on the thread that completed the winner (the thread pool, for
    // tasks completed with RunContinuationsAsynchronously), out of a pumped test's reach.
    private static Task WhenAnyHere(Task[] tasks)
    {
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        foreach (var task in tasks)
        {
            _ = SignalAsync(task, first);
        }

        return first.Task;

        static async Task SignalAsync(Task task, TaskCompletionSource first)
        {
            try
            {
                await task;
            }
            catch (Exception)
            {
                // A loser cancelled, or a wait that ended without a match: either way it is over.
            }

            first.TrySetResult();
        }
    }

    private sealed class AggregateControl(RedundantConnection owner) : IConnectionControl
    {
        public ReconnectTrigger ReconnectTrigger { get; } = new(owner.RequestRoll);

        public Task ShutdownAsync(CancellationToken cancellationToken = default) => owner.ShutdownAsync(cancellationToken);

        // Each leg is a reconnecting connection with its own sockets: rotate a leg (RedundantLeg.Connection.RotateAsync).
        public Task<RotationResult> RotateAsync(CancellationToken cancellationToken = default) =>
            Task.FromException<RotationResult>(new NotSupportedException("A redundant connection rotates per leg: call RotateAsync on a leg's Connection."));
    }
}

/// <summary>One leg of a <see cref="RedundantConnection"/>: its own lifecycle, sink and control (its frames reach the merged source only).</summary>
public sealed class RedundantLeg
{
    private readonly RedundantConnection _owner;

    internal RedundantLeg(RedundantConnection owner, int index, string name, ReconnectingConnection connection)
    {
        _owner = owner;
        Index = index;
        Name = name;
        Connection = connection;
        Tags = [new(TransportTelemetry.ConnectionTag, owner.Name), new(LegsTelemetry.LegTag, name)];
    }

    /// <summary>The leg's position in the configured order (its preference as primary).</summary>
    public int Index { get; }

    /// <summary>The leg's name.</summary>
    public string Name { get; }

    /// <summary>The leg's own lifecycle (its epoch counts its own down-cycles).</summary>
    public ILifecycleChannel Lifecycle => Connection.Lifecycle;

    /// <summary>The leg's own sink: frames for this socket only (queued while it is down, like any connection's).</summary>
    public IFrameSink Sink => Connection.Sink;

    /// <summary>The leg's own control: <c>ForceReconnect</c> reconnects this leg only.</summary>
    public IConnectionControl Control => Connection.Control;

    /// <summary>The leg's current session facts (null before its first session).</summary>
    public SessionInfo? Session => Connection.Session;

    /// <summary>This leg as it is now (lifecycle, wins, duplicates, lag).</summary>
    public LegState State => _owner.Current.Legs[Index];

    internal ReconnectingConnection Connection { get; }

    internal KeyValuePair<string, object?>[] Tags { get; }

    internal Task? Watch { get; set; }

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {Lifecycle.Current}";
}

internal static partial class LegsLog
{
    [LoggerMessage(EventId = 340, EventName = "LegsStarted", Level = LogLevel.Information, Message = "Redundant connection {Name}: {Legs} legs started ({Keyed}).")]
    private static partial void StartedCore(ILogger logger, string name, int legs, string keyed);

    public static void Started(ILogger logger, string name, int legs, bool keyed) =>
        StartedCore(logger, name, legs, keyed ? "keyed frames deduplicated" : "no key selector: the primary leg's frames only");

    [LoggerMessage(EventId = 341, EventName = "LegsAggregate", Level = LogLevel.Information, Message = "Redundant connection {Name}: {Phase} epoch {Epoch}, {Up}/{Legs} legs up.")]
    public static partial void Aggregate(ILogger logger, string name, ConnectionPhase phase, long epoch, int up, int legs);

    [LoggerMessage(EventId = 342, EventName = "LegDown", Level = LogLevel.Warning, Message = "Redundant connection {Name}: leg {Leg} went down ({Error}); {Up}/{Legs} legs up.")]
    public static partial void LegDown(ILogger logger, string name, string leg, int up, int legs, string error);

    [LoggerMessage(EventId = 343, EventName = "LegsSelectorFaulted", Level = LogLevel.Error, Message = "Redundant connection {Name}: the key selector threw {ExceptionType} on leg {Leg}; such frames count as unkeyed (logged once per leg).")]
    public static partial void SelectorFaulted(ILogger logger, string name, string leg, string exceptionType);

    [LoggerMessage(EventId = 344, EventName = "LegsRolling", Level = LogLevel.Information, Message = "Redundant connection {Name}: reconnecting leg {Leg} (epoch {Epoch}) while another carries the feed.")]
    public static partial void Rolling(ILogger logger, string name, string leg, long epoch);

    [LoggerMessage(EventId = 345, EventName = "LegsFaulted", Level = LogLevel.Error, Message = "Redundant connection {Name}: {Where} failed with {ExceptionType}.")]
    public static partial void Faulted(ILogger logger, string name, string where, string exceptionType);
}
