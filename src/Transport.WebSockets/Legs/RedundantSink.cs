namespace Transport.WebSockets.Legs;

// Invariants (each proven by a test carrying [Trait("Invariant", "<id>")] in tests/Transport.Tests/Legs/):
//
// Legs.S1: A send goes to one leg: the first leg, in the configured order, that is up when the send is made
//          (the primary). SendAsync and SendBatchAsync pin the frame to that leg's epoch; when that leg's
//          socket ends before the frame was written (StaleEpoch from the leg), the send fails over to the next
//          up leg, so an awaited send is never stranded on a dead leg. While no leg is up they wait for one.
// Legs.S2: A send pinned to an aggregate epoch fails with StaleEpoch once the aggregate has left that epoch
//          (every leg went down), and is never sent after that, even if a leg is still up on its own epoch.
// Legs.S3: TrySend never waits: it queues on the primary, or on the first leg when none is up (it goes out
//          when that leg is up again, by the leg's own queued-frame rules).
// Legs.S4: SendToAllAsync writes on every leg up at the call, each pinned to its leg's epoch (a leg that is down
//          gets nothing: its session initializer owns what a new socket needs), and says how many legs wrote it.

/// <summary>
/// The send side of a redundant connection: one leg at a time (the primary, failing over), or every up leg on
/// request (<see cref="RedundantConnection.SendToAllAsync"/>). Stable for the connection's life.
/// </summary>
internal sealed class RedundantSink : IFrameSink
{
    private readonly RedundantConnection _owner;
    private long _failovers;

    public RedundantSink(RedundantConnection owner) => _owner = owner;

    /// <summary>Cumulative sends that moved to another leg because theirs went down before the write.</summary>
    public long Failovers => Interlocked.Read(ref _failovers);

    public int QueuedFrames => _owner.LegList.Sum(l => l.Connection.Sink.QueuedFrames);

    public long QueuedBytes => _owner.LegList.Sum(l => l.Connection.Sink.QueuedBytes);

    public long FailedAfterAccept => _owner.LegList.Sum(l => l.Connection.Sink.FailedAfterAccept);

    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => SendAsync(frame, SendOptions.Default, cancellationToken);

    public ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default) =>
        SendWithFailoverAsync(frame, null, options, cancellationToken);

    public ValueTask SendBatchAsync(IReadOnlyList<Frame> frames, SendOptions options = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frames);
        return SendWithFailoverAsync(default, [.. frames], options, cancellationToken);
    }

    public SendStatus TrySend(Frame frame, SendOptions options = default)
    {
        // Legs.S2: a pin names the aggregate's epoch.
        if (options.PinnedEpoch is { } pinned)
        {
            var aggregate = _owner.Lifecycle.Current;
            if (aggregate.IsTerminal)
            {
                return SendStatus.Closed;
            }

            if (pinned != aggregate.Epoch || !aggregate.IsUp)
            {
                return SendStatus.StaleEpoch;
            }
        }

        // Legs.S3.
        if (_owner.ChooseLeg() is { } up)
        {
            return up.Leg.Connection.Sink.TrySend(frame, options with { PinnedEpoch = options.PinnedEpoch is null ? null : up.Epoch });
        }

        return options.PinnedEpoch is null ? _owner.LegList[0].Connection.Sink.TrySend(frame, options) : SendStatus.StaleEpoch;
    }

    /// <summary>Legs.S4: the frame on every up leg, each pinned to its epoch.</summary>
    public async ValueTask<int> SendToAllAsync(Frame frame, SendOptions options, CancellationToken cancellationToken)
    {
        CheckPin(options);
        var targets = _owner.UpLegs();
        if (targets.Count == 0)
        {
            return 0;
        }

        var sends = new Task<bool>[targets.Count];
        for (int i = 0; i < targets.Count; i++)
        {
            sends[i] = SendOnAsync(targets[i].Leg, targets[i].Epoch, frame, options, cancellationToken);
        }

        // Each awaited in turn (not Task.WhenAll, which completes on the thread pool), without
        // ConfigureAwait(false): a caller on a pumped scheduler (tests) keeps its continuation there.
        int written = 0;
        foreach (var send in sends)
        {
            written += await send ? 1 : 0;
        }

        cancellationToken.ThrowIfCancellationRequested();
        return written;
    }

    /// <summary>Legs.S4 without waiting: queued on every up leg, pinned to its epoch.</summary>
    public int TrySendToAll(Frame frame, SendOptions options)
    {
        if (options.PinnedEpoch is { } pinned)
        {
            var aggregate = _owner.Lifecycle.Current;
            if (pinned != aggregate.Epoch || !aggregate.IsUp)
            {
                return 0;
            }
        }

        int accepted = 0;
        foreach (var (leg, epoch) in _owner.UpLegs())
        {
            accepted += leg.Connection.Sink.TrySend(frame, options with { PinnedEpoch = epoch }) == SendStatus.Accepted ? 1 : 0;
        }

        return accepted;
    }

    private static async Task<bool> SendOnAsync(RedundantLeg leg, long epoch, Frame frame, SendOptions options, CancellationToken cancellationToken)
    {
        try
        {
            await leg.Connection.Sink.SendAsync(frame, options with { PinnedEpoch = epoch }, cancellationToken);
            return true;
        }
        catch (TransportException e) when (e.Kind is TransportErrorKind.StaleEpoch or TransportErrorKind.Shutdown or TransportErrorKind.WriteInterrupted)
        {
            // That leg went down (or was shut down) before writing it: it is not counted.
            return false;
        }
    }

    // Legs.S1, S2. A batch when `batch` is set, else the one frame.
    private async ValueTask SendWithFailoverAsync(Frame frame, Frame[]? batch, SendOptions options, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            CheckPin(options);
            if (_owner.ChooseLeg() is not { } up)
            {
                // Legs.S1: nothing is up: wait for a leg to come up (or every leg to end), then choose again.
                // No ConfigureAwait(false): see SendToAllAsync.
                if (!await _owner.WaitForAnyLegUpAsync(cancellationToken))
                {
                    throw TransportException.Shutdown();
                }

                continue;
            }

            var pinned = options with { PinnedEpoch = up.Epoch };
            try
            {
                if (batch is null)
                {
                    await up.Leg.Connection.Sink.SendAsync(frame, pinned, cancellationToken);
                }
                else
                {
                    await up.Leg.Connection.Sink.SendBatchAsync(batch, pinned, cancellationToken);
                }

                return;
            }
            catch (TransportException e) when (e.Kind == TransportErrorKind.StaleEpoch)
            {
                // Legs.S1: that leg's socket ended before the write; wait until its lifecycle says so (never
                // spin on a leg that still looks up), then choose again.
                Interlocked.Increment(ref _failovers);
                long epoch = up.Epoch;
                await up.Leg.Connection.Lifecycle.WaitAsync(s => !s.IsUp || s.Epoch != epoch, cancellationToken);
            }
        }
    }

    // Legs.S2: a pin names the aggregate epoch; once the aggregate left it, the send is stale.
    private void CheckPin(SendOptions options)
    {
        var aggregate = _owner.Lifecycle.Current;
        if (aggregate.IsTerminal)
        {
            throw TransportException.Shutdown();
        }

        if (options.PinnedEpoch is { } pinned && (pinned != aggregate.Epoch || !aggregate.IsUp))
        {
            throw TransportException.StaleEpoch(pinned);
        }
    }
}
