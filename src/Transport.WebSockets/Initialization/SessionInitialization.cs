using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Transport.WebSockets.Pacing;
using Transport.WebSockets.Reconnect;
using Transport.WebSockets.Sending;

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
/// <para>
/// The direct writer has two locks: <c>_order</c> keeps the initializer's sends in call order and is
/// held by one send across its wait for the send window; <c>_socket</c> is held only around one
/// socket write (one write at a time, as every leaf requires) and the pacer's bookkeeping. Pongs take
/// only <c>_socket</c>, and whoever holds it writes the pongs waiting first, so a pong never sits
/// behind an initializer frame that waits for the window.
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Init.I1 no queued data frame reaches the socket before the initializer has completed: its
/// frames are written here, the queue only after (test: I1_queued_order_never_precedes_the_login).</item>
/// <item>Init.I2 a failed or timed-out initializer fails the attempt: the up-edge is not published
/// and the error is classified like a connect failure; an initializer ignoring its token is abandoned
/// at the bound (tests: I2_login_rejection_is_permanent, I2_initializer_timeout_is_a_transient_attempt_failure).</item>
/// <item>Init.I5 one write at a time: the direct writer is serialized and closed (in-flight writes
/// awaited, within <see cref="SessionOptions.InitializeTimeout"/>) before the write loop starts
/// (test: I1_queued_order_never_precedes_the_login).</item>
/// <item>Init.I6 the context's sink is pinned: after its socket ended, every send fails with
/// StaleEpoch (test: I4_waits_fail_with_the_socket_end_and_I6_context_sink_is_stale_after_its_socket_ended).</item>
/// <item>Init.I7 pongs first: a pong answering a ping that arrives while the initializer runs is
/// written before every initializer frame not yet started; an uncounted pong
/// (<see cref="SendRateLimit.CountPongs"/> false) never waits for the send window, and no initializer
/// frame holds the socket while it waits for the window (tests:
/// Item5_uncounted_pong_during_the_initializer_never_waits_for_the_send_window,
/// Item5_uncounted_pong_is_not_held_behind_an_initializer_frame_waiting_for_the_window,
/// Item5_counted_pong_goes_before_initializer_frames_waiting_for_the_window).</item>
/// <item>Init.I8 the initializer's writes are bounded: each is watched by <c>Send.WriteTimeout</c> like
/// the write loop's (Write.W1), and at <see cref="SessionOptions.InitializeTimeout"/> the attempt ends
/// without waiting for a write still pending on the socket; a socket with a write given up that way is
/// failed (aborted, no close frame after a partial frame), never closed politely. The error names the
/// initializer and the bound (tests: Item4_initializer_write_stalled_past_WriteTimeout_fails_the_attempt_and_gives_the_socket_up,
/// Item4_initializer_write_stalled_at_InitializeTimeout_fails_the_attempt_without_waiting_for_the_write,
/// Item4_a_fire_and_forget_initializer_write_stalled_after_it_returned_is_bounded_by_InitializeTimeout).</item>
/// </list>
/// </remarks>
internal sealed class SessionInitialization : ISessionContext
{
    private readonly ILeafSender _sender;
    private readonly SendPacer? _pacer;
    private readonly WriteWatchdog? _watchdog;
    private readonly IFrameSink _connectionSink;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly Action<TransportException> _socketFailed;
    private readonly Action<Frame> _enqueuePong;

    // Init.I5, Init.I7: _order serializes the initializer's sends in call order (held across a send's
    // wait for the window); _socket is held only around one socket write and the pacer's bookkeeping.
    private readonly FifoGate _order = new();
    private readonly FifoGate _socket = new();
    private readonly ConcurrentQueue<Frame> _pongs = new();
    private readonly CancellationTokenSource _writes = new();
    private readonly FrameWaiters _waiters;
    private readonly PinnedSink _sink;

    // Written under _socket (false once the write loop may start); read anywhere.
    private volatile bool _direct = true;
    private volatile TransportException? _ended;

    // 1 while a socket write of the direct writer is in flight (Init.I8 reports it).
    private int _writing;

    public SessionInitialization(
        long epoch,
        SessionInfo session,
        HandshakeResponse handshake,
        ILeafSender sender,
        SendPacer? pacer,
        WriteWatchdog? watchdog,
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
        _watchdog = watchdog;
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

    /// <summary>The error for a direct write that stalled past <c>Send.WriteTimeout</c> (Init.I8).</summary>
    public static TransportException WriteStalled(TimeSpan writeTimeout) =>
        TransportException.Timeout($"A write of the session initializer did not complete within Send.WriteTimeout ({writeTimeout}): the peer stopped reading or the path is dead; the socket is given up.");

    /// <summary>
    /// While the initializer runs, answers a ping straight on the socket, ahead of the initializer's
    /// frames not yet started (Init.I7), and returns true; afterwards returns false and the caller uses
    /// the pong lane.
    /// </summary>
    public bool TryAnswerPing(Frame pong)
    {
        if (!_direct)
        {
            return false;
        }

        _pongs.Enqueue(pong);
        _ = FlushPongsAsync();
        return true;
    }

    // Init.I7: writes the waiting pongs; a counted one waits for the window without holding the socket.
    // Once the write loop has taken over, the pongs go to its pong lane.
    private async Task FlushPongsAsync()
    {
        try
        {
            while (!_pongs.IsEmpty)
            {
                await _socket.EnterAsync(_writes.Token);
                TimeSpan wait;
                try
                {
                    if (!_direct)
                    {
                        HandPongsToTheWriteLoop();
                        return;
                    }

                    wait = await WritePongsLockedAsync();
                }
                finally
                {
                    _socket.Exit();
                }

                if (wait == TimeSpan.Zero)
                {
                    return; // every pong is out (or another writer took the rest)
                }

                await Task.Delay(wait, _time, _writes.Token);
            }
        }
        catch (OperationCanceledException) when (_writes.IsCancellationRequested)
        {
            // The socket ended: a pong is meaningful only on this socket.
        }
        catch (TransportException)
        {
            // The socket failed (already reported): as above.
        }
    }

    // Caller holds _socket. Writes every waiting pong the window allows (an uncounted pong always);
    // returns zero when none is left, else how long until the next counted one may go.
    private async ValueTask<TimeSpan> WritePongsLockedAsync()
    {
        while (_pongs.TryPeek(out var pong))
        {
            if (_pacer is not null && _pacer.Counts(FrameKind.Pong))
            {
                var wait = _pacer.UntilAllowed();
                if (wait > TimeSpan.Zero)
                {
                    return wait;
                }
            }

            _pongs.TryDequeue(out _);
            _pacer?.OnWriteStarting(FrameKind.Pong);
            await WriteOnSocketLockedAsync(pong);
        }

        return TimeSpan.Zero;
    }

    private void HandPongsToTheWriteLoop()
    {
        while (_pongs.TryDequeue(out var pong))
        {
            _enqueuePong(pong);
        }
    }

    /// <summary>
    /// Runs <paramref name="initializer"/> bounded by <paramref name="timeout"/>, then closes the
    /// direct writer within the same bound. Returns null on success, else the attempt failure to classify.
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
            // Init.I5: the sends it made without waiting (TrySend) go out before the write loop starts,
            // within the same bound (Init.I8: never an unbounded wait on a stalled write).
            error = await CloseDirectWriterAsync(linked.Token, bound, timeout);
            if (error is null)
            {
                InitializationLog.Completed(_logger, _name, Epoch, _time.GetElapsedTime(started));
                return null;
            }
        }
        else if (bound.IsCancellationRequested && cancelled)
        {
            // Init.I2: ran past the bound (or gave up because of it): a timeout, whatever it threw.
            error = TimedOut(timeout);
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

        InitializationLog.Failed(_logger, _name, Epoch, error.Kind, error.ToString());
        GiveUpDirectWrites(error);
        return error;
    }

    /// <summary>The socket ended: waits and the pinned sink fail from now on.</summary>
    public void End(TransportException error)
    {
        _ended ??= error;
        _waiters.End(error);
        _writes.Cancel();
    }

    private TransportException TimedOut(TimeSpan timeout) => Volatile.Read(ref _writing) != 0
        ? TransportException.Timeout($"The session initializer did not complete within {timeout} (Session.InitializeTimeout): a write of it was still pending on the socket (the peer stopped reading or the path is dead), so the socket is given up.")
        : TransportException.Timeout($"The session initializer did not complete within {timeout} (Session.InitializeTimeout).");

    // Init.I8: after a failure nothing is written directly any more. When no write is in flight the
    // socket stays usable (the session closes it politely: a rejected login is no broken socket); when
    // one is, it is never waited for: the socket is failed, which aborts that write (the leaf contract:
    // a cancelled send gives the socket up), and no close frame follows a partial frame.
    private void GiveUpDirectWrites(TransportException error)
    {
        if (_socket.TryEnter())
        {
            // Held from now on: every later direct send fails (StaleEpoch once the session ends).
            return;
        }

        _socketFailed(error);
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

    // Init.I5: waits for the sends already made (in order, pongs included), then routes every later send
    // to the queue and every later pong to the pong lane. Bounded by the initializer's bound (Init.I8).
    private async Task<TransportException?> CloseDirectWriterAsync(CancellationToken bounded, CancellationTokenSource bound, TimeSpan timeout)
    {
        var ordered = false;
        try
        {
            await _order.EnterAsync(bounded);
            ordered = true;
            await _socket.EnterAsync(bounded);
        }
        catch (OperationCanceledException)
        {
            if (ordered)
            {
                _order.Exit();
            }

            return bound.IsCancellationRequested
                ? TimedOut(timeout)
                : _ended ?? TransportException.Connection("The socket ended while the session initializer's writes completed.");
        }

        _direct = false;
        HandPongsToTheWriteLoop();
        _socket.Exit();
        _order.Exit();
        return null;
    }

    /// <summary>Writes one frame on the socket while direct; false when the writer has closed meanwhile.</summary>
    private async ValueTask<bool> TryWriteDirectAsync(Frame frame, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _writes.Token);
        await EnterAsync(_order, linked.Token);
        try
        {
            if (!_direct)
            {
                return false;
            }

            ThrowIfEnded();
            await WriteInOrderAsync(frame, linked.Token);
            return true;
        }
        finally
        {
            _order.Exit();
        }
    }

    /// <summary>
    /// Writes a whole batch on the socket while direct (Batch.B1 for the initializer's sends: <c>_order</c>
    /// is held from its first frame to its last, so no other initializer send interleaves; a pong may go
    /// between two of its frames, Init.I7); false when the writer had already closed (nothing written: the
    /// caller routes the batch to the queue).
    /// </summary>
    private async ValueTask<bool> TryWriteDirectBatchAsync(Frame[] frames, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _writes.Token);
        await EnterAsync(_order, linked.Token);
        var written = 0;
        try
        {
            if (!_direct)
            {
                return false;
            }

            for (; written < frames.Length; written++)
            {
                ThrowIfEnded();

                // Once it holds _order, a batch is not cancelled by its caller (only by the socket's end).
                await WriteInOrderAsync(frames[written], _writes.Token);
            }

            return true;
        }
        catch (Exception ex) when (written > 0)
        {
            // Batch.B3: the socket ended after some frames: say exactly how many.
            throw new SendBatchException(written, frames.Length, ex as TransportException ?? TransportException.StaleEpoch(Epoch));
        }
        finally
        {
            _order.Exit();
        }
    }

    // Caller holds _order. Init.I7: takes the socket only to write (pongs waiting first); waits for the
    // window without holding it. The frame is counted when its write starts (Pacer.P1).
    private async ValueTask WriteInOrderAsync(Frame frame, CancellationToken cancellationToken)
    {
        while (true)
        {
            await EnterAsync(_socket, cancellationToken);
            TimeSpan wait;
            try
            {
                ThrowIfEnded();
                wait = await WritePongsLockedAsync();
                if (wait == TimeSpan.Zero && _pacer is not null)
                {
                    wait = _pacer.UntilAllowed();
                }

                if (wait == TimeSpan.Zero)
                {
                    _pacer?.OnWriteStarting(frame.Kind);
                    await WriteOnSocketLockedAsync(frame);
                    return;
                }
            }
            finally
            {
                _socket.Exit();
            }

            try
            {
                // Venues count every frame: the initializer's are paced like the write loop's.
                await Task.Delay(wait, _time, cancellationToken);
            }
            catch (OperationCanceledException ex)
            {
                throw _ended is not null ? TransportException.StaleEpoch(Epoch) : TransportException.Cancelled(ex);
            }
        }
    }

    // Caller holds _socket. One socket write, watched by Send.WriteTimeout (Init.I8, Write.W1).
    private async ValueTask WriteOnSocketLockedAsync(Frame frame)
    {
        Volatile.Write(ref _writing, 1);
        _watchdog?.Started();
        try
        {
            await _sender.SendAsync(frame, _writes.Token);
            _watchdog?.Completed();
        }
        catch (Exception ex)
        {
            // The socket is unusable after a failed or interrupted write.
            var error = ConnectPolicy.Normalize(ex);
            _socketFailed(error);
            throw error;
        }
        finally
        {
            Volatile.Write(ref _writing, 0);
        }
    }

    private async ValueTask EnterAsync(FifoGate gate, CancellationToken cancellationToken)
    {
        try
        {
            await gate.EnterAsync(cancellationToken);
        }
        catch (OperationCanceledException ex)
        {
            throw _ended is not null ? TransportException.StaleEpoch(Epoch) : TransportException.Cancelled(ex);
        }
    }

    private void ThrowIfEnded()
    {
        if (_ended is not null)
        {
            throw TransportException.StaleEpoch(Epoch);
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
