namespace Transport.Mock;

/// <summary>
/// A scripted raw socket: the test plays the server (<c>Deliver*</c>, <see cref="DeliverClose"/>,
/// <see cref="Fail"/>, <see cref="Disconnect"/>) and reads back what the client did
/// (<see cref="Sent"/>, <see cref="CloseSent"/>, <see cref="IsDisposed"/>).
/// </summary>
/// <remarks>
/// <para>Invariants (proved in <c>tests/Transport.Tests/Mock/MockSocketTests.cs</c>):</para>
/// <list type="bullet">
/// <item>MockSocket.M1: the receiver yields deliveries in order; with nothing queued a receive waits until a
/// delivery, a failure, disposal or its token (<c>M1_*</c>).</item>
/// <item>MockSocket.M2: a failure (<see cref="Fail"/>, <see cref="Disconnect"/>) or a close
/// (<see cref="DeliverClose"/>) is queued behind frames already delivered, and ends the receive
/// side: every later receive throws it again (for a close, <see cref="TransportErrorKind.ClosedByPeer"/>).
/// Deliveries after the end are dropped, as bytes a server writes after a reset never arrive (<c>M2_*</c>).</item>
/// <item>MockSocket.M3: delivered and sent payloads are copied, so neither the test nor the client can
/// change a frame after the fact (<c>M3_*</c>).</item>
/// <item>MockSocket.M4: disposal fails every pending and later operation with a Connection error (<c>M4_*</c>).</item>
/// <item>MockSocket.M5: waiting operations are completed outside the lock, and their continuations run
/// asynchronously (see <c>PendingOperation</c>): the awaiting actor resumes on its own scheduler.</item>
/// </list>
/// <para>
/// One receive and one send may be in flight at a time, as with <c>ClientWebSocket</c>; a second
/// concurrent receive throws <see cref="InvalidOperationException"/> to expose the caller's bug.
/// <see cref="ToString"/> never prints payloads.
/// </para>
/// </remarks>
public sealed class MockSocket : ILeafConnection, ILeafSender, ILeafReceiver
{
    private static int s_nextId;

    private readonly Lock _gate = new();
    private readonly int _id = Interlocked.Increment(ref s_nextId);

    // Guarded by _gate. Receive side: queued deliveries (a frame, or the error that ends the
    // stream), whether the end was queued, the error every receive throws once the end was
    // consumed, and the receive waiting for a delivery.
    private readonly Queue<Inbound> _inbox = new();
    private bool _endQueued;
    private TransportException? _endedWith;
    private PendingOperation<Frame>? _pendingReceive;
    private int _received;

    // Guarded by _gate. Send side.
    private readonly List<Frame> _sent = [];
    private readonly List<PendingOperation<bool>> _pendingSends = [];
    private (int Code, string? Reason)? _closeSent;
    private int _pongsSent;
    private int _sendAttempts;
    private bool _isDisposed;
    private SendBehavior _sendBehavior;
    private CloseBehavior _closeBehavior;
    private TransportException _sendError = TransportException.Connection("The mock socket failed the send.");
    private TransportException _closeError = TransportException.Connection("The mock socket failed the close.");

    /// <summary>Creates an open socket.</summary>
    /// <param name="subProtocol">The subprotocol the "server" selected, if any.</param>
    public MockSocket(string? subProtocol = null)
    {
        SubProtocol = subProtocol;
        Handshake = new HandshakeResponse(101, subProtocol, [], HandshakeResponse.NoHeaders);
    }

    /// <summary>Creates an open socket whose scripted handshake response is <paramref name="handshake"/>.</summary>
    /// <param name="handshake">What the "server" answered: subprotocol, extensions, headers.</param>
    public MockSocket(HandshakeResponse handshake)
        : this(handshake?.SubProtocol)
    {
        ArgumentNullException.ThrowIfNull(handshake);
        Handshake = handshake;
    }

    /// <summary>
    /// The scripted handshake response (default: 101 with <see cref="SubProtocol"/>, no extensions, no
    /// headers). Set it before the socket is handed out.
    /// </summary>
    public HandshakeResponse Handshake { get; set; }

    /// <summary>
    /// What this leaf can see. Default: it surfaces pings and pongs (the test delivers them). Set it
    /// before the socket is handed out, e.g. to <see cref="LeafCapabilities.AnswersPingsItself"/> to
    /// model a ClientWebSocket-like leaf.
    /// </summary>
    public LeafCapabilities Capabilities { get; set; } = LeafCapabilities.SurfacesPings | LeafCapabilities.SurfacesPongs;

    /// <inheritdoc />
    public ILeafSender Sender => this;

    /// <inheritdoc />
    public ILeafReceiver Receiver => this;

    /// <inheritdoc />
    public string? SubProtocol { get; }

    /// <summary>How many frames the client has received.</summary>
    public int Received
    {
        get
        {
            lock (_gate)
            {
                return _received;
            }
        }
    }

    /// <summary>How many deliveries are queued and not yet received (a queued failure or close counts as one).</summary>
    public int PendingDeliveries
    {
        get
        {
            lock (_gate)
            {
                return _inbox.Count;
            }
        }
    }

    /// <summary>True while a receive is waiting for a delivery.</summary>
    public bool IsReceivePending
    {
        get
        {
            lock (_gate)
            {
                return _pendingReceive is not null;
            }
        }
    }

    /// <summary>Every frame the client sent successfully, in order (payloads copied at send time; includes pongs and a close sent through <see cref="ILeafSender.SendAsync"/>).</summary>
    public IReadOnlyList<Frame> Sent
    {
        get
        {
            lock (_gate)
            {
                return [.. _sent];
            }
        }
    }

    /// <summary>The text of every text frame in <see cref="Sent"/>, in order.</summary>
    public IReadOnlyList<string> SentTexts
    {
        get
        {
            lock (_gate)
            {
                return [.. _sent.Where(f => f.Kind == FrameKind.Text).Select(f => f.GetText())];
            }
        }
    }

    /// <summary>The first close the client sent (by <see cref="ILeafSender.CloseAsync"/> or a close frame); null if none.</summary>
    public (int Code, string? Reason)? CloseSent
    {
        get
        {
            lock (_gate)
            {
                return _closeSent;
            }
        }
    }

    /// <summary>How many pong frames the client sent.</summary>
    public int PongsSent
    {
        get
        {
            lock (_gate)
            {
                return _pongsSent;
            }
        }
    }

    /// <summary>How many times <see cref="ILeafSender.SendAsync"/> was called, whatever the outcome.</summary>
    public int SendAttempts
    {
        get
        {
            lock (_gate)
            {
                return _sendAttempts;
            }
        }
    }

    /// <summary>True once the client disposed (aborted) the socket.</summary>
    public bool IsDisposed
    {
        get
        {
            lock (_gate)
            {
                return _isDisposed;
            }
        }
    }

    /// <summary>What later sends do (default <see cref="Mock.SendBehavior.Complete"/>). Sends already hanging keep hanging.</summary>
    public SendBehavior SendBehavior
    {
        get { lock (_gate) { return _sendBehavior; } }
        set { lock (_gate) { _sendBehavior = value; } }
    }

    /// <summary>The error a send throws under <see cref="Mock.SendBehavior.Fail"/> (default: a Connection error).</summary>
    public TransportException SendError
    {
        get { lock (_gate) { return _sendError; } }
        set { ArgumentNullException.ThrowIfNull(value); lock (_gate) { _sendError = value; } }
    }

    /// <summary>What later closes do (default <see cref="Mock.CloseBehavior.Complete"/>).</summary>
    public CloseBehavior CloseBehavior
    {
        get { lock (_gate) { return _closeBehavior; } }
        set { lock (_gate) { _closeBehavior = value; } }
    }

    /// <summary>The error a close throws under <see cref="Mock.CloseBehavior.Fail"/> (default: a Connection error).</summary>
    public TransportException CloseError
    {
        get { lock (_gate) { return _closeError; } }
        set { ArgumentNullException.ThrowIfNull(value); lock (_gate) { _closeError = value; } }
    }

    /// <summary>The server sends <paramref name="frame"/> (payload copied now).</summary>
    /// <param name="frame">Any frame; a close frame ends the stream like <see cref="DeliverClose"/>.</param>
    public void Deliver(Frame frame)
    {
        if (frame.Kind == FrameKind.Close)
        {
            DeliverClose(frame.CloseCode, frame.CloseReason);
            return;
        }

        Enqueue(new Inbound(CopyOf(frame), null));
    }

    /// <summary>The server sends a text message.</summary>
    /// <param name="text">The text.</param>
    public void DeliverText(string text) => Enqueue(new Inbound(Frame.Text(text), null));

    /// <summary>The server sends a binary message (payload copied now).</summary>
    /// <param name="payload">The bytes.</param>
    public void DeliverBinary(byte[] payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        Enqueue(new Inbound(Frame.Binary(payload.ToArray()), null));
    }

    /// <summary>The server sends a ping (payload copied now).</summary>
    /// <param name="payload">Application data the pong should echo.</param>
    public void DeliverPing(byte[]? payload = null) =>
        Enqueue(new Inbound(Frame.Ping(payload is null ? ReadOnlyMemory<byte>.Empty : payload.ToArray()), null));

    /// <summary>The server sends an (unsolicited) pong.</summary>
    public void DeliverPong() => Enqueue(new Inbound(Frame.Pong(), null));

    /// <summary>The server sends a close frame: the client receives it, then every later receive throws ClosedByPeer.</summary>
    /// <param name="code">The close code.</param>
    /// <param name="reason">The reason.</param>
    public void DeliverClose(int code, string? reason = null) =>
        Enqueue(new Inbound(Frame.Close(code, reason), TransportException.ClosedByPeer(code, reason)));

    /// <summary>The socket fails: the pending receive (or the next one, after frames already delivered) throws <paramref name="error"/>, and so does every receive after it.</summary>
    /// <param name="error">The error.</param>
    public void Fail(TransportException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        Enqueue(new Inbound(default, error));
    }

    /// <summary>The connection drops without a close frame: receives throw a Connection error with close code 1006.</summary>
    public void Disconnect() =>
        Fail(new TransportException(
            TransportErrorKind.Connection,
            "The connection was lost without a close frame.",
            closeCode: CloseCodes.Abnormal));

    /// <summary>Aborts the socket: pending and later operations throw a Connection error. Idempotent.</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        PendingOperation<Frame>? receive;
        PendingOperation<bool>[] sends;
        lock (_gate)
        {
            if (_isDisposed)
            {
                return ValueTask.CompletedTask;
            }

            _isDisposed = true;
            receive = _pendingReceive;
            _pendingReceive = null;
            sends = [.. _pendingSends];
            _pendingSends.Clear();
        }

        // MockSocket.M5: complete outside the lock.
        receive?.TrySetException(Disposed());
        foreach (var send in sends)
        {
            send.TrySetException(Disposed());
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Describes the socket without payloads.</summary>
    public override string ToString()
    {
        lock (_gate)
        {
            return $"MockSocket#{_id}(received={_received}, queued={_inbox.Count}, sent={_sent.Count}{(_isDisposed ? ", disposed" : string.Empty)})";
        }
    }

    /// <inheritdoc />
    ValueTask<Frame> ILeafReceiver.ReceiveAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<Frame>(cancellationToken);
        }

        PendingOperation<Frame> pending;
        lock (_gate)
        {
            if (_isDisposed)
            {
                return ValueTask.FromException<Frame>(Disposed());
            }

            if (_inbox.Count > 0)
            {
                // A queued failure faults the returned task rather than throwing from the call.
                try
                {
                    return new ValueTask<Frame>(TakeLocked());
                }
                catch (TransportException e)
                {
                    return ValueTask.FromException<Frame>(e);
                }
            }

            if (_endedWith is not null)
            {
                return ValueTask.FromException<Frame>(_endedWith);
            }

            if (_pendingReceive is not null)
            {
                throw new InvalidOperationException("A receive is already pending on this socket; one receive at a time.");
            }

            pending = new PendingOperation<Frame>();
            _pendingReceive = pending;
        }

        pending.CancelWith(cancellationToken, p =>
        {
            lock (_gate)
            {
                if (_pendingReceive == p)
                {
                    _pendingReceive = null;
                }
            }
        });
        return new ValueTask<Frame>(pending.Task);
    }

    /// <inheritdoc />
    ValueTask ILeafSender.SendAsync(Frame frame, CancellationToken cancellationToken)
    {
        if (frame.Kind == FrameKind.Text && !System.Text.Unicode.Utf8.IsValid(frame.Payload.Span))
        {
            // As the real leaves do (leaf contract Leaf.C10): invalid UTF-8 text never reaches a socket.
            return ValueTask.FromException(new ArgumentException("A Text frame must be valid UTF-8 (RFC 6455 5.6).", nameof(frame)));
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        PendingOperation<bool> hung;
        lock (_gate)
        {
            _sendAttempts++;
            if (_isDisposed)
            {
                return ValueTask.FromException(Disposed());
            }

            switch (_sendBehavior)
            {
                case SendBehavior.Fail:
                    return ValueTask.FromException(_sendError);
                case SendBehavior.Hang:
                    hung = NewHangLocked();
                    break;
                default:
                    RecordLocked(frame);
                    return ValueTask.CompletedTask;
            }
        }

        return Hang(hung, cancellationToken);
    }

    /// <inheritdoc />
    ValueTask ILeafSender.CloseAsync(int code, string? reason, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        PendingOperation<bool>? hung = null;
        lock (_gate)
        {
            if (_isDisposed)
            {
                return ValueTask.FromException(Disposed());
            }

            switch (_closeBehavior)
            {
                case CloseBehavior.Fail:
                    return ValueTask.FromException(_closeError);
                case CloseBehavior.Hang:
                    _closeSent ??= (code, reason);
                    hung = NewHangLocked();
                    break;
                default:
                    _closeSent ??= (code, reason);
                    break;
            }
        }

        if (hung is null)
        {
            // A well-behaved peer answers at once: its close reaches the receive side after any
            // frames already delivered (a no-op when the stream already ended).
            DeliverClose(code, reason);
            return ValueTask.CompletedTask;
        }

        return Hang(hung, cancellationToken);
    }

    private static TransportException Disposed() => TransportException.Connection("The mock socket was disposed.");

    private static Frame CopyOf(Frame frame) => frame.Kind switch
    {
        FrameKind.Text => Frame.Text(frame.Payload.ToArray()),
        FrameKind.Binary => Frame.Binary(frame.Payload.ToArray()),
        FrameKind.Ping => Frame.Ping(frame.Payload.ToArray()),
        FrameKind.Pong => Frame.Pong(frame.Payload.ToArray()),
        _ => Frame.Close(frame.CloseCode, frame.CloseReason),
    };

    private void Enqueue(Inbound inbound)
    {
        PendingOperation<Frame>? receiver;
        Frame frame = default;
        TransportException? error = null;
        lock (_gate)
        {
            // MockSocket.M2: nothing arrives after the stream ended or the client aborted.
            if (_endQueued || _endedWith is not null || _isDisposed)
            {
                return;
            }

            _endQueued = inbound.Ends;
            _inbox.Enqueue(inbound);
            receiver = _pendingReceive;
            if (receiver is null)
            {
                return;
            }

            // Hand the oldest delivery (this one: a waiting receive means the queue was empty) to the waiter.
            _pendingReceive = null;
            try
            {
                frame = TakeLocked();
            }
            catch (TransportException e)
            {
                error = e;
            }
        }

        // MockSocket.M5: complete outside the lock.
        if (error is not null)
        {
            receiver.TrySetException(error);
        }
        else
        {
            receiver.TrySetResult(frame);
        }
    }

    /// <summary>Consumes the oldest delivery: returns its frame or throws its error.</summary>
    private Frame TakeLocked()
    {
        var next = _inbox.Dequeue();
        if (next.Ends)
        {
            _endedWith = next.EndError;
        }

        if (next.IsFailure)
        {
            throw next.EndError!;
        }

        _received++;
        return next.Frame;
    }

    private void RecordLocked(Frame frame)
    {
        var copy = CopyOf(frame);
        _sent.Add(copy);
        if (copy.Kind == FrameKind.Pong)
        {
            _pongsSent++;
        }
        else if (copy.Kind == FrameKind.Close)
        {
            _closeSent ??= (copy.CloseCode, copy.CloseReason);
        }
    }

    private PendingOperation<bool> NewHangLocked()
    {
        var pending = new PendingOperation<bool>();
        _pendingSends.Add(pending);
        return pending;
    }

    private ValueTask Hang(PendingOperation<bool> pending, CancellationToken cancellationToken)
    {
        // Outside the lock: registering may run the callback at once if the token just fired.
        pending.CancelWith(cancellationToken, p =>
        {
            lock (_gate)
            {
                _pendingSends.Remove(p);
            }
        });
        return new ValueTask(pending.Task);
    }

    /// <summary>One queued delivery: a frame, a failure (no frame), or a close frame that also ends the stream.</summary>
    private readonly record struct Inbound(Frame Frame, TransportException? EndError)
    {
        /// <summary>True when, once consumed, every later receive throws <see cref="EndError"/>.</summary>
        public bool Ends => EndError is not null;

        /// <summary>True for a failure: consuming it throws instead of yielding a frame.</summary>
        public bool IsFailure => EndError is not null && Frame.Kind != FrameKind.Close;
    }
}
