using Microsoft.Extensions.Logging;
using Transport.WebSockets.Pacing;
using Transport.WebSockets.Reconnect;

namespace Transport.WebSockets.Initialization;

/// <summary>
/// One socket's session context and initializer run: the <see cref="ISessionContext"/> handed to
/// the <see cref="ISessionInitializer"/>, its epoch-pinned sink, its frame waits, and the direct,
/// serialized writer that carries the initializer's frames (and ping answers) while the session's
/// write loop has not started yet.
/// </summary>
/// <remarks>
/// <para>Order on a new socket: the receive loop runs; <see cref="RunAsync"/> runs the initializer;
/// only after it completes does the session publish the up-edge and start the write loop that
/// releases queued data. While it runs, the connection's queue is not read at all.</para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Init.I1 no queued data frame reaches the socket before the initializer has completed: its
/// frames are written here, the queue only after (test: I1_queued_order_never_precedes_the_login).</item>
/// <item>Init.I2 a failed or timed-out initializer fails the attempt: the up-edge is not published
/// and the error is classified like a connect failure; an initializer ignoring its token is abandoned
/// at the bound (tests: I2_login_rejection_is_permanent, I2_initializer_timeout_is_a_transient_attempt_failure).</item>
/// <item>Init.I5 one write at a time: the direct writer is serialized and closed (in-flight writes
/// awaited) before the write loop starts (test: I1_queued_order_never_precedes_the_login).</item>
/// <item>Init.I6 the context's sink is pinned: after its socket ended, every send fails with
/// StaleEpoch (test: I4_waits_fail_with_the_socket_end_and_I6_context_sink_is_stale_after_its_socket_ended).</item>
/// </list>
/// </remarks>
internal sealed class SessionInitialization : ISessionContext
{
    private readonly ILeafSender _sender;
    private readonly SendPacer? _pacer;
    private readonly IFrameSink _connectionSink;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly Action<TransportException> _socketFailed;
    private readonly Action<Frame> _enqueuePong;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _writes = new();
    private readonly FrameWaiters _waiters;
    private readonly PinnedSink _sink;

    // Written under _writeLock (false once the write loop may start); read anywhere.
    private volatile bool _direct = true;
    private volatile TransportException? _ended;

    public SessionInitialization(
        long epoch,
        SessionInfo session,
        HandshakeResponse handshake,
        ILeafSender sender,
        SendPacer? pacer,
        IFrameSink connectionSink,
        TimeProvider time,
        ILogger logger,
        string name,
        Action<TransportException> socketFailed,
        Action<Frame> enqueuePong)
    {
        _enqueuePong = enqueuePong;
        Epoch = epoch;
        Session = session;
        Handshake = handshake;
        _sender = sender;
        _pacer = pacer;
        _connectionSink = connectionSink;
        _time = time;
        _logger = logger;
        _name = name;
        _socketFailed = socketFailed;
        _waiters = new FrameWaiters(time, logger, name, epoch);
        _sink = new PinnedSink(this);
    }

    public long Epoch { get; }

    public bool IsReconnect => Epoch > 0;

    public SessionInfo Session { get; }

    public HandshakeResponse Handshake { get; }

    public IFrameSink Sink => _sink;

    /// <summary>True while frames go straight to the socket (the initializer is running).</summary>
    public bool IsDirect => _direct;

    public Task<Frame> WaitForFrameAsync(Func<Frame, bool> match, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        _waiters.WaitAsync(match, timeout, cancellationToken);

    /// <summary>Offers a received data frame to the waits; receive loop only; one volatile read when none wait.</summary>
    public void OnDataFrame(in Frame frame) => _waiters.Offer(frame);

    /// <summary>
    /// While the initializer runs, answers a ping straight on the socket and returns true; afterwards
    /// returns false and the caller uses the pong lane.
    /// </summary>
    public bool TryAnswerPing(Frame pong)
    {
        if (!_direct)
        {
            return false;
        }

        _ = AnswerPingAsync(pong);
        return true;
    }

    private async Task AnswerPingAsync(Frame pong)
    {
        try
        {
            if (!await TryWriteDirectAsync(pong, CancellationToken.None))
            {
                _enqueuePong(pong); // the write loop has taken over meanwhile
            }
        }
        catch (TransportException)
        {
            // The socket failed (already reported) or ended: a pong is meaningful only on this socket.
        }
    }

    /// <summary>
    /// Runs <paramref name="initializer"/> bounded by <paramref name="timeout"/>, then closes the
    /// direct writer. Returns null on success, else the attempt failure to classify.
    /// </summary>
    public async Task<TransportException?> RunAsync(ISessionInitializer initializer, TimeSpan timeout, CancellationToken sessionEnding)
    {
        InitializationLog.Started(_logger, _name, Epoch);
        var started = _time.GetTimestamp();
        TransportException? error = null;
        using var bound = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(bound.Token, sessionEnding);
        Task running;
        try
        {
            running = initializer.InitializeAsync(this, linked.Token).AsTask();
        }
        catch (Exception ex)
        {
            running = Task.FromException(ex);
        }

        // Init.I2: a callee ignoring its token is abandoned at the bound.
        // Completed inline by the cancelling thread, so the await below resumes on the actor's scheduler
        // without a thread-pool hop (a pumped test scheduler sees it in the same pump).
        var expired = new TaskCompletionSource();
        using (linked.Token.Register(static s => ((TaskCompletionSource)s!).TrySetResult(), expired))
        {
            await Task.WhenAny(running, expired.Task);
        }
        var thrown = running.IsFaulted ? running.Exception!.InnerException : null;
        var cancelled = !running.IsCompleted || running.IsCanceled || IsCancellation(thrown);
        if (running.IsCompletedSuccessfully)
        {
            InitializationLog.Completed(_logger, _name, Epoch, _time.GetElapsedTime(started));
        }
        else if (bound.IsCancellationRequested && cancelled)
        {
            // Init.I2: ran past the bound (or gave up because of it): a timeout, whatever it threw.
            error = TransportException.Timeout($"The session initializer did not complete within {timeout} (Session.InitializeTimeout).");
            ObserveLater(running);
        }
        else if (cancelled)
        {
            // The socket ended (or shutdown began) while it ran; the session's own end reason wins.
            error = _ended ?? TransportException.Connection("The socket ended while the session initializer ran.");
            ObserveLater(running);
        }
        else
        {
            error = Classify(thrown);
        }

        if (error is not null)
        {
            InitializationLog.Failed(_logger, _name, Epoch, error.Kind, error.ToString());
        }

        await CloseDirectWriterAsync();
        return error;
    }

    /// <summary>The socket ended: waits and the pinned sink fail from now on.</summary>
    public void End(TransportException error)
    {
        _ended ??= error;
        _waiters.End(error);
        _writes.Cancel();
    }

    private static bool IsCancellation(Exception? error) =>
        error is OperationCanceledException or TransportException { Kind: TransportErrorKind.Cancelled };

    private TransportException Classify(Exception? error)
    {
        switch (error)
        {
            case TransportException te:
                return te;
            default:
                // User code: type only, its message may echo a credential.
                InitializationLog.Threw(_logger, _name, Epoch, error?.GetType().Name ?? "unknown");
                return TransportException.Connection($"The session initializer failed ({error?.GetType().Name ?? "unknown"}).", error);
        }
    }

    private static void ObserveLater(Task abandoned) =>
        _ = abandoned.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    // Init.I5: waits for an in-flight direct write, then routes every later send to the queue.
    private async Task CloseDirectWriterAsync()
    {
        await _writeLock.WaitAsync(CancellationToken.None);
        _direct = false;
        _writeLock.Release();
    }

    /// <summary>Writes one frame on the socket while direct; false when the writer has closed meanwhile.</summary>
    private async ValueTask<bool> TryWriteDirectAsync(Frame frame, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _writes.Token);
        try
        {
            await _writeLock.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException ex)
        {
            throw _ended is not null ? TransportException.StaleEpoch(Epoch) : TransportException.Cancelled(ex);
        }

        try
        {
            if (!_direct)
            {
                return false;
            }

            if (_ended is not null)
            {
                throw TransportException.StaleEpoch(Epoch);
            }

            if (_pacer is not null)
            {
                // Venues count every frame: the initializer's are paced like the write loop's.
                try
                {
                    await _pacer.WaitForRoomAsync(linked.Token);
                    _pacer.OnWriteStarting(frame.Kind);
                }
                catch (OperationCanceledException ex)
                {
                    throw _ended is not null ? TransportException.StaleEpoch(Epoch) : TransportException.Cancelled(ex);
                }
            }

            try
            {
                await _sender.SendAsync(frame, _writes.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || _writes.IsCancellationRequested)
            {
                // The socket is unusable after a failed or interrupted write.
                var error = ConnectPolicy.Normalize(ex);
                _socketFailed(error);
                throw error;
            }

            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Writes a whole batch on the socket while direct (Batch.B1: the write lock is held from its first
    /// frame to its last, so no other initializer send interleaves); false when the writer had already
    /// closed (nothing written: the caller routes the batch to the queue).
    /// </summary>
    private async ValueTask<bool> TryWriteDirectBatchAsync(Frame[] frames, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _writes.Token);
        try
        {
            await _writeLock.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException ex)
        {
            throw _ended is not null ? TransportException.StaleEpoch(Epoch) : TransportException.Cancelled(ex);
        }

        var written = 0;
        try
        {
            if (!_direct)
            {
                return false;
            }

            for (; written < frames.Length; written++)
            {
                if (_ended is not null)
                {
                    throw TransportException.StaleEpoch(Epoch);
                }

                if (_pacer is not null)
                {
                    await _pacer.WaitForRoomAsync(_writes.Token);
                    _pacer.OnWriteStarting(frames[written].Kind);
                }

                try
                {
                    await _sender.SendAsync(frames[written], _writes.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || _writes.IsCancellationRequested)
                {
                    var error = ConnectPolicy.Normalize(ex);
                    _socketFailed(error);
                    throw error;
                }
            }

            return true;
        }
        catch (Exception ex) when (written > 0)
        {
            // Batch.B3: the socket ended after some frames: say exactly how many.
            throw new SendBatchException(written, frames.Length, ex as TransportException ?? TransportException.StaleEpoch(Epoch));
        }
        catch (OperationCanceledException)
        {
            throw TransportException.StaleEpoch(Epoch);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async ValueTask SendBatchAsync(Frame[] frames, SendOptions options, CancellationToken cancellationToken)
    {
        if (_ended is not null)
        {
            throw TransportException.StaleEpoch(Epoch);
        }

        if (_direct && await TryWriteDirectBatchAsync(frames, cancellationToken))
        {
            return;
        }

        await _connectionSink.SendBatchAsync(frames, options with { PinnedEpoch = Epoch }, cancellationToken);
    }

    private async Task WriteAndReportAsync(Frame frame)
    {
        try
        {
            await SendAsync(frame, default, CancellationToken.None);
        }
        catch (TransportException ex)
        {
            _sink.CountFailed();
            InitializationLog.SendFailed(_logger, _name, Epoch, ex.Kind);
        }
    }

    private async ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken)
    {
        if (_ended is not null)
        {
            throw TransportException.StaleEpoch(Epoch);
        }

        if (_direct && await TryWriteDirectAsync(frame, cancellationToken))
        {
            return;
        }

        await _connectionSink.SendAsync(frame, options with { PinnedEpoch = Epoch }, cancellationToken);
    }

    /// <summary>The context's sink: direct while the initializer runs, then the data lane pinned to this epoch.</summary>
    private sealed class PinnedSink(SessionInitialization owner) : IFrameSink
    {
        private long _failedAfterAccept;

        public int QueuedFrames => owner._connectionSink.QueuedFrames;

        public long QueuedBytes => owner._connectionSink.QueuedBytes;

        public long FailedAfterAccept => Interlocked.Read(ref _failedAfterAccept) + owner._connectionSink.FailedAfterAccept;

        public void CountFailed() => Interlocked.Increment(ref _failedAfterAccept);

        public ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default)
        {
            if (!frame.IsData)
            {
                return ValueTask.FromException(TransportException.Protocol($"Only Text and Binary frames can be sent; this one is {frame.Kind}."));
            }

            if (!FrameValidation.HasValidText(frame))
            {
                throw new ArgumentException(FrameValidation.InvalidUtf8Message(frame.Payload.Span), nameof(frame)); // Send.V1
            }

            return owner.SendAsync(frame, options, cancellationToken);
        }

        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => SendAsync(frame, default, cancellationToken);

        public ValueTask SendBatchAsync(IReadOnlyList<Frame> frames, SendOptions options = default, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(frames);
            if (frames.Count == 0)
            {
                throw new ArgumentException("A batch holds at least one frame.", nameof(frames));
            }

            var batch = frames.ToArray();
            if (Array.FindIndex(batch, f => !f.IsData) is var bad and >= 0)
            {
                throw new ArgumentException($"Only Text and Binary frames can be sent; frame {bad} of the batch is {batch[bad].Kind}.", nameof(frames));
            }

            if (Array.FindIndex(batch, f => !FrameValidation.HasValidText(f)) is var invalid and >= 0)
            {
                throw new ArgumentException($"Frame {invalid} of the batch: {FrameValidation.InvalidUtf8Message(batch[invalid].Payload.Span)}", nameof(frames)); // Send.V1
            }

            return owner.SendBatchAsync(batch, options, cancellationToken);
        }

        public SendStatus TrySend(Frame frame, SendOptions options = default)
        {
            if (!frame.IsData || !FrameValidation.HasValidText(frame))
            {
                return SendStatus.Invalid; // Send.V1
            }

            if (owner._ended is not null)
            {
                return SendStatus.StaleEpoch;
            }

            if (owner._direct)
            {
                _ = owner.WriteAndReportAsync(frame);
                return SendStatus.Accepted;
            }

            return owner._connectionSink.TrySend(frame, options with { PinnedEpoch = owner.Epoch });
        }
    }
}
